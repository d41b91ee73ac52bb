//! What a request means for routing: its command (from a table built on Redis's own
//! `COMMAND` metadata), its keys, and from those the slot or the local handler.

pub mod classify;
pub mod combine;
pub mod commands;
pub mod docs;
pub mod key_specs;
pub mod keys;
pub mod learned;
mod redis_commands;
pub mod table;
