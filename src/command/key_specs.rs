//! Redis 7's key specifications: where a command's keys are, as `COMMAND` describes
//! them (`begin_search` finds where the keys start, `find_keys` how many follow),
//! so a command slotway was not built with (a newer server's, a module's) is routed
//! by the server's own description of it. The search follows Redis's
//! `getKeysUsingKeySpecs`.

/// Where the search for a spec's keys begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BeginSearch {
    /// At this argument (1 is the first after the command name).
    Index(u16),
    /// After `keyword`, searched for from `start_from` (negative: from the end, backwards).
    Keyword { keyword: &'static str, start_from: i16 },
    /// The server cannot say (a module that locates keys itself).
    Unknown,
}

/// Which arguments from the beginning are keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindKeys {
    /// Keys up to `last_key` (relative to the beginning; negative: from the end), every
    /// `step`; with `limit` > 1 and a negative `last_key`, only 1/limit of what remains.
    Range {
        last_key: i16,
        step: u16,
        limit: u16,
    },
    /// The argument at `keynum_index` (relative) counts the keys, which start at
    /// `first_key` (relative), every `step`.
    KeyNum {
        keynum_index: u16,
        first_key: u16,
        step: u16,
    },
    Unknown,
}

/// Argument indexes, every `step`.
pub type KeyIndexes = std::iter::StepBy<std::ops::RangeInclusive<usize>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeySpec {
    pub begin: BeginSearch,
    pub find: FindKeys,
}

impl KeySpec {
    /// Whether slotway can find this spec's keys (no `unknown` part).
    pub fn locatable(&self) -> bool {
        !matches!(self.begin, BeginSearch::Unknown) && !matches!(self.find, FindKeys::Unknown)
    }
}

/// The argument indexes of a spec's keys in a request of `argc` arguments, whose
/// argument `i` is `arg(i)`; `None` when the spec finds none.
pub fn key_range<'a>(spec: &KeySpec, argc: usize, arg: &dyn Fn(usize) -> &'a [u8]) -> Option<KeyIndexes> {
    let first = begin(spec.begin, argc, arg)?;
    let argc = argc as i64;
    let (first, last, step) = match spec.find {
        FindKeys::Range { last_key, step, limit } => {
            let last = if last_key >= 0 {
                first + i64::from(last_key)
            } else if limit <= 1 {
                argc + i64::from(last_key)
            } else {
                first + ((argc - first) / i64::from(limit) + i64::from(last_key))
            };
            (first, last, i64::from(step.max(1)))
        }
        FindKeys::KeyNum { keynum_index, first_key, step } => {
            let at = first + i64::from(keynum_index);
            let count = (at < argc).then(|| crate::protocol::parse_int(arg(at as usize))).flatten()?;
            let start = first + i64::from(first_key);
            let step = i64::from(step.max(1));
            if count <= 0 {
                return None;
            }
            (start, start + (count - 1) * step, step)
        }
        FindKeys::Unknown => return None,
    };
    // Keys a request does not have (too few arguments): the node answers its arity
    // or syntax error, which any node gives; stop at the last argument.
    let last = last.min(argc - 1);
    (first >= 1 && last >= first).then(|| (first as usize..=last as usize).step_by(step as usize))
}

/// Where `begin` puts the first key; `None` when the request has no such place.
fn begin<'a>(begin: BeginSearch, argc: usize, arg: &dyn Fn(usize) -> &'a [u8]) -> Option<i64> {
    match begin {
        BeginSearch::Index(i) => (usize::from(i) < argc).then_some(i64::from(i)),
        BeginSearch::Keyword { keyword, start_from } => {
            let argc = argc as i64;
            let found = |i: i64| arg(i as usize).eq_ignore_ascii_case(keyword.as_bytes());
            let hit = if start_from >= 0 {
                (i64::from(start_from)..argc).find(|&i| found(i))
            } else {
                (1..=argc + i64::from(start_from)).rev().find(|&i| found(i))
            };
            hit.map(|i| i + 1).filter(|&i| i < argc)
        }
        BeginSearch::Unknown => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(spec: KeySpec, args: &[&'static str]) -> Vec<usize> {
        let arg = |i: usize| args.get(i).map_or(&b""[..], |a| a.as_bytes());
        key_range(&spec, args.len(), &arg).map(|r| r.collect()).unwrap_or_default()
    }

    #[test]
    fn one_key_at_an_index() {
        let spec = KeySpec { begin: BeginSearch::Index(1), find: FindKeys::Range { last_key: 0, step: 1, limit: 0 } };
        assert_eq!(keys(spec, &["hgetex", "h", "FIELDS", "1", "f"]), vec![1]);
        assert_eq!(keys(spec, &["hgetex"]), Vec::<usize>::new());
    }

    #[test]
    fn every_key_to_the_end_and_key_value_pairs() {
        let all = KeySpec { begin: BeginSearch::Index(1), find: FindKeys::Range { last_key: -1, step: 1, limit: 0 } };
        assert_eq!(keys(all, &["mget", "a", "b", "c"]), vec![1, 2, 3]);
        let pairs = KeySpec { begin: BeginSearch::Index(1), find: FindKeys::Range { last_key: -1, step: 2, limit: 0 } };
        assert_eq!(keys(pairs, &["mset", "a", "1", "b", "2"]), vec![1, 3]);
        // XREAD's STREAMS k1 k2 id1 id2: half of what follows the keyword.
        let streams = KeySpec {
            begin: BeginSearch::Keyword { keyword: "STREAMS", start_from: 1 },
            find: FindKeys::Range { last_key: -1, step: 1, limit: 2 },
        };
        assert_eq!(keys(streams, &["xread", "COUNT", "2", "streams", "a", "b", "0", "0"]), vec![4, 5]);
    }

    #[test]
    fn a_count_then_keys() {
        let spec =
            KeySpec { begin: BeginSearch::Index(2), find: FindKeys::KeyNum { keynum_index: 0, first_key: 1, step: 1 } };
        assert_eq!(keys(spec, &["eval", "s", "2", "a", "b", "x"]), vec![3, 4]);
        assert_eq!(keys(spec, &["eval", "s", "0", "x"]), Vec::<usize>::new());
        assert_eq!(keys(spec, &["eval", "s", "nope", "x"]), Vec::<usize>::new());
        // More keys announced than given: the keys that are there.
        assert_eq!(keys(spec, &["eval", "s", "5", "a"]), vec![3]);
    }

    #[test]
    fn a_keyword_searched_from_the_end() {
        let spec = KeySpec {
            begin: BeginSearch::Keyword { keyword: "STORE", start_from: -1 },
            find: FindKeys::Range { last_key: 0, step: 1, limit: 0 },
        };
        assert_eq!(keys(spec, &["cmd", "k", "STORE", "a", "store", "b"]), vec![5]);
        assert_eq!(keys(spec, &["cmd", "k"]), Vec::<usize>::new());
        assert!(!KeySpec { begin: BeginSearch::Unknown, find: FindKeys::Unknown }.locatable());
    }
}
