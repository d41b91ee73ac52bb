//! The cluster as slotway sees it: hash slots, and the immutable topology snapshot
//! (slot -> shard -> primary) that is rebuilt and swapped as a whole.

pub mod commands;
pub mod node_version;
pub mod refresh;
pub mod replica_lag;
pub mod slot;
pub mod topology;
