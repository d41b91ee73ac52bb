//! What a request means for routing: its command (from a table built on Redis's own
//! `COMMAND` metadata), its keys, and from those the slot or the local handler.

pub mod classify;
pub mod combine;
pub mod docs;
pub mod keys;
mod redis_commands;
pub mod table;
