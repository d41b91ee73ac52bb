//! Getting a request to the node that owns its slot, and following the cluster's
//! redirects until it gets there.

pub mod dispatch;
pub mod fanout;
pub mod merge;
pub mod scan;
pub mod scripts;
