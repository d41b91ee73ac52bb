//! How the replies of a command sent to several nodes become one reply: the
//! policy the command table names for each fan-out command (`route::fanout` applies it).

/// Merges that need nothing but the replies themselves (named by the command table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Every part answers `+OK`: so does the merge.
    AllOk,
    /// Integers added up (`DEL`, `EXISTS`, `DBSIZE`, ...).
    Sum,
    /// Arrays concatenated (`KEYS`).
    Concat,
    /// Arrays concatenated without repeats (`PUBSUB CHANNELS`).
    ConcatUnique,
    /// `[name, count, ...]` arrays: counts added per position (`PUBSUB NUMSUB`).
    PairSum,
    /// `CONFIG GET`: each parameter's value, or every node's value where they disagree.
    ConfigGet,
    /// `SLOWLOG GET [count]`: every node's entries, newest first.
    NewestFirst,
    /// Every part must give the same reply (`SCRIPT LOAD`'s SHA): that reply.
    Same,
    /// Arrays of 0/1 combined element-wise with OR (`SCRIPT EXISTS`: a script on some
    /// primary runs by `EVALSHA` anywhere, since slotway loads it where it is missing).
    AnyOfArrays,
    /// The first part's reply that is not nil (`RANDOMKEY`).
    FirstNonNil,
    /// `SCRIPT KILL` / `FUNCTION KILL`, sent on fresh connections (the node running
    /// the script reads no more of the connection that sent it): `+OK` if a node
    /// killed one, else `UNKILLABLE` if a node says so, else `NOTBUSY`.
    Killed,
    /// `CLUSTER SLOT-STATS` (Valkey 8): every primary's own slots, ordered and
    /// limited as one node owning every slot answers.
    SlotStats,
}
