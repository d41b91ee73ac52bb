//! Commands of the string, keyspace, list, hash, set and sorted-set families.

use rand::Rng;

use super::workload::{KINDS, LEX_BOUNDS, SCORE_BOUNDS, Workload};

impl Workload {
    pub(crate) fn string(&mut self) -> Vec<String> {
        let tagged = self.chance(50);
        let k = self.exact_key("str", tagged);
        let v = self.any_value();
        let mut c: Vec<String> = match self.rng.random_range(0..22) {
            0..3 => {
                let mut c = vec!["SET".into(), k, v];
                let expiry = match self.rng.random_range(0..8) {
                    0 => vec!["EX".into(), self.seconds()],
                    1 => vec!["PX".into(), self.millis()],
                    2 => vec!["KEEPTTL".into()],
                    // Absolute times far ahead. (Not in the past: such a key stays in
                    // DBSIZE until the server's expiry cycle, run at its own moments.)
                    3 => vec!["EXAT".into(), self.pick(&["4000000000", "4100000000"]).into()],
                    4 => vec!["PXAT".into(), self.pick(&["4000000000000", "4100000000000"]).into()],
                    _ => vec![],
                };
                c.extend(expiry);
                c.extend(self.options(&[&["NX"], &["XX"], &["GET"]], 20));
                c
            }
            3 => vec!["GET".into(), self.key("str")],
            4 => {
                let mut c = vec!["GETEX".into(), k];
                match self.rng.random_range(0..4) {
                    0 => c.extend(["EX".into(), self.seconds()]),
                    1 => c.extend(["PX".into(), self.millis()]),
                    2 => c.push("PERSIST".into()),
                    _ => {}
                }
                c
            }
            5 => vec!["GETDEL".into(), self.key("str")],
            6 => vec!["APPEND".into(), self.key("str"), v],
            7 => vec!["INCR".into(), self.key("str")],
            8 => vec!["DECR".into(), self.key("str")],
            9 => vec![self.pick(&["INCRBY", "DECRBY"]).into(), k, self.int(-10, 10)],
            10 => vec!["INCRBYFLOAT".into(), k, self.float()],
            11 => vec!["SETRANGE".into(), k, self.int(-1, 12), v],
            12 => vec!["GETRANGE".into(), k, self.int(-5, 5), self.int(-5, 12)],
            13 => vec!["STRLEN".into(), self.key("str")],
            14 => vec!["SETNX".into(), k, v],
            15 => vec!["GETSET".into(), self.key("str"), v],
            16 => vec!["SETEX".into(), k, self.seconds(), v],
            17 => vec!["PSETEX".into(), k, self.millis(), v],
            18 => {
                let mut c = vec!["LCS".into(), self.tkey("str"), self.tkey("str")];
                c.extend(self.options(&[&["LEN"], &["IDX"], &["MINMATCHLEN", "1"], &["WITHMATCHLEN"]], 25));
                c
            }
            19 => vec!["SUBSTR".into(), self.key("str"), self.int(-3, 3), self.int(-2, 8)],
            _ => {
                let mut c = vec!["MSETNX".to_string()];
                for _ in 0..self.rng.random_range(1..=3) {
                    c.extend([self.tkey("str"), self.value()]);
                }
                c
            }
        };
        if c[0] == "SET" && self.chance(5) {
            c.push(self.pick(&["EX", "PX", "NX", "KEEPTTL", "BOGUS"]).into()); // errors on purpose
        }
        c
    }

    pub(crate) fn keyspace(&mut self) -> Vec<String> {
        let kind = self.pick(KINDS);
        let k = self.key(kind);
        match self.rng.random_range(0..14) {
            0 => vec!["TYPE".into(), k],
            1 | 2 => {
                let mut c = vec![self.pick(&["EXPIRE", "PEXPIRE"]).to_string(), k];
                c.push(if c[0] == "EXPIRE" { self.seconds() } else { self.millis() });
                c.extend(self.options(&[&["NX"], &["XX"], &["GT"], &["LT"]], 15));
                c
            }
            3 => vec!["PERSIST".into(), k],
            4 | 5 => vec![self.pick(&["TTL", "PTTL"]).into(), k],
            6 => vec![self.pick(&["RENAME", "RENAMENX"]).into(), self.dest(kind), self.dest(kind)],
            7 => {
                let mut c = vec!["COPY".into(), self.dest(kind), self.dest(kind)];
                c.extend(self.options(&[&["REPLACE"]], 50));
                c
            }
            8..11 => vec!["OBJECT".into(), "ENCODING".into(), k],
            11 => vec!["OBJECT".into(), self.pick(&["ENCODING", "NOPE"]).into(), k, "extra".into()],
            12 => vec![self.pick(&["EXPIRETIME", "PEXPIRETIME"]).into(), k],
            _ => {
                // No BY or GET: a cluster refuses their patterns (and BY nosort would
                // leave a set in its hash table's order).
                let mut c = vec![self.pick(&["SORT", "SORT", "SORT_RO"]).to_string(), self.tkey(kind)];
                c.extend(self.options(&[&["LIMIT", "0", "3"], &["DESC"], &["ALPHA"]], 30));
                if c[0] == "SORT" && self.chance(40) {
                    c.extend(["STORE".into(), self.dest("list")]);
                }
                c
            }
        }
    }

    /// The commands slotway splits by slot, with keys anywhere (duplicates too).
    pub(crate) fn split(&mut self) -> Vec<String> {
        let tagged = self.chance(30);
        let mut keys = Vec::new();
        let name = self.pick(&["MGET", "MSET", "DEL", "UNLINK", "EXISTS", "TOUCH", "MGET", "MSET"]);
        for _ in 0..self.rng.random_range(1..=6) {
            let t = tagged || self.chance(30);
            keys.push(match name {
                "MSET" => self.exact_key("str", t),
                _ if self.chance(70) => self.key_in("str", t),
                _ => {
                    let kind = self.pick(KINDS);
                    self.key_in(kind, t)
                }
            });
        }
        let mut c = vec![name.to_string()];
        for k in keys {
            c.push(k);
            if name == "MSET" {
                c.push(self.any_value());
            }
        }
        if name == "MSET" && self.chance(5) {
            c.pop(); // an odd count: a wrong number of arguments
        }
        c
    }

    pub(crate) fn list(&mut self) -> Vec<String> {
        let k = self.key("list");
        let m = self.member();
        match self.rng.random_range(0..20) {
            0..4 => {
                let mut c = vec![self.pick(&["LPUSH", "RPUSH", "LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]).to_string(), k];
                for _ in 0..self.rng.random_range(1..=3) {
                    c.push(self.member());
                }
                c
            }
            4 | 5 => {
                let mut c = vec![self.pick(&["LPOP", "RPOP"]).to_string(), k];
                if self.chance(50) {
                    c.push(self.int(-1, 3));
                }
                c
            }
            6 | 7 => vec!["LRANGE".into(), k, self.int(-4, 3), self.int(-3, 6)],
            8 => vec!["LINDEX".into(), k, self.int(-4, 4)],
            9 => vec!["LSET".into(), k, self.int(-3, 3), m],
            10 => {
                let place = self.pick(&["BEFORE", "AFTER", "AFTER", "MIDDLE"]);
                vec!["LINSERT".into(), k, place.into(), self.member(), m]
            }
            11 => vec!["LREM".into(), k, self.int(-2, 2), m],
            12 => vec!["LTRIM".into(), k, self.int(-5, 2), self.int(-3, 8)],
            13 | 14 => {
                let mut c = vec!["LPOS".into(), k, m];
                if self.chance(40) {
                    c.extend(["RANK".into(), self.int(-2, 2)]);
                }
                if self.chance(40) {
                    c.extend(["COUNT".into(), self.int(-1, 3)]);
                }
                if self.chance(20) {
                    c.extend(["MAXLEN".into(), self.int(-1, 5)]);
                }
                c
            }
            15 | 16 => {
                let (from, to) = (self.pick(&["LEFT", "RIGHT"]), self.pick(&["LEFT", "RIGHT", "UP"]));
                vec!["LMOVE".into(), self.tkey("list"), self.tkey("list"), from.into(), to.into()]
            }
            17 => vec!["RPOPLPUSH".into(), self.tkey("list"), self.tkey("list")],
            18 => self.mpop(vec!["LMPOP".into()], "list", &["LEFT", "RIGHT", "UP"]),
            _ => {
                let mut c = vec!["RPUSH".into(), k, self.any_value()];
                if self.chance(50) {
                    c[0] = "LLEN".into();
                    c.pop();
                }
                c
            }
        }
    }

    pub(crate) fn hash(&mut self) -> Vec<String> {
        let k = self.key("hash");
        let f = self.field();
        match self.rng.random_range(0..18) {
            0..4 => {
                let mut c = vec![self.pick(&["HSET", "HSET", "HMSET"]).to_string(), k];
                for _ in 0..self.rng.random_range(1..=3) {
                    c.extend([self.field(), self.value()]);
                }
                if self.chance(5) {
                    c.pop();
                }
                c
            }
            4 => vec!["HGET".into(), k, f],
            5 => {
                let mut c = vec!["HMGET".into(), k];
                for _ in 0..self.rng.random_range(1..=3) {
                    c.push(self.field());
                }
                c
            }
            6 => vec!["HDEL".into(), k, f, self.field()],
            7 => vec!["HINCRBY".into(), k, f, self.int(-5, 5)],
            8 => vec!["HINCRBYFLOAT".into(), k, f, self.float()],
            9 | 10 => vec!["HGETALL".into(), k],
            11 => vec![self.pick(&["HKEYS", "HVALS"]).into(), k],
            12 => vec!["HLEN".into(), k],
            13 => vec!["HEXISTS".into(), k, f],
            14 => vec!["HSETNX".into(), k, f, self.value()],
            15 => vec!["HSTRLEN".into(), k, f],
            _ => vec!["HSET".into(), k, f, self.value()],
        }
    }

    pub(crate) fn set(&mut self) -> Vec<String> {
        let k = self.key("set");
        match self.rng.random_range(0..18) {
            0..4 => {
                let mut c = vec![self.pick(&["SADD", "SADD", "SREM"]).to_string(), k];
                for _ in 0..self.rng.random_range(1..=3) {
                    c.push(self.member());
                }
                c
            }
            4 | 5 => vec!["SMEMBERS".into(), k],
            6 => vec!["SISMEMBER".into(), k, self.member()],
            7 => vec!["SMISMEMBER".into(), k, self.member(), self.member()],
            8 => vec!["SCARD".into(), k],
            9..12 => {
                let mut c = vec![self.pick(&["SINTER", "SUNION", "SDIFF"]).to_string()];
                c.extend(self.keys("set", 3, true));
                c
            }
            12 | 13 => {
                let mut c =
                    vec![self.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]).to_string(), self.dest("set")];
                c.extend(self.keys("set", 3, true));
                c
            }
            14 | 15 => {
                let keys = self.keys("set", 3, true);
                let mut c = vec!["SINTERCARD".to_string()];
                if self.numkeys_and_keys(&mut c, keys) && self.chance(40) {
                    c.extend(["LIMIT".into(), self.int(-1, 3)]);
                }
                c
            }
            16 => vec!["SMOVE".into(), self.tkey("set"), self.tkey("set"), self.member()],
            _ => vec!["SADD".into(), k, if self.chance(20) { self.any_value() } else { self.member() }],
        }
    }

    /// LMPOP, ZMPOP and their blocking forms (`c`: the name, and BLMPOP's timeout):
    /// numkeys, keys, the end to pop from, perhaps a COUNT.
    pub(crate) fn mpop(&mut self, mut c: Vec<String>, kind: &str, ends: &[&str]) -> Vec<String> {
        let keys = self.keys(kind, 3, true);
        if self.numkeys_and_keys(&mut c, keys) {
            c.push(self.pick(ends).into());
            if self.chance(50) {
                c.extend(["COUNT".into(), self.int(0, 3)]);
            }
        }
        c
    }

    /// A sorted set whose scores are all 0: lexicographic ranges over mixed scores
    /// are unspecified (a skip list's random levels decide them), so they get these.
    pub(crate) fn lex_key(&mut self) -> String {
        let tagged = self.chance(50);
        self.exact_key("lex", tagged)
    }

    /// Pushes numkeys (now and then a wrong one) and `keys`; whether numkeys is right.
    /// With a numkeys larger than the keys, the options after them would count as
    /// keys: a cluster answers CROSSSLOT for `LIMIT` then (the cross-slot test covers
    /// it), so options go only after a right numkeys.
    pub(crate) fn numkeys_and_keys(&mut self, c: &mut Vec<String>, keys: Vec<String>) -> bool {
        let n = keys.len();
        let numkeys = match self.rng.random_range(0..12) {
            0 => self.pick(&["0", "-1", "x", "9", "2x", " 1"]).to_string(),
            1 => (n + 1).to_string(),
            _ => n.to_string(),
        };
        let right = numkeys == n.to_string();
        c.push(numkeys);
        c.extend(keys);
        right
    }

    pub(crate) fn score_range(&mut self, lex: bool) -> (String, String) {
        let bounds = if lex { LEX_BOUNDS } else { SCORE_BOUNDS };
        (self.pick(bounds).into(), self.pick(bounds).into())
    }

    pub(crate) fn zset(&mut self) -> Vec<String> {
        let k = self.key("zset");
        match self.rng.random_range(0..33) {
            22 | 23 => {
                // ZUNION, ZINTER, ZDIFF: numkeys, then options unless numkeys is off.
                let keys = self.keys("zset", 3, true);
                let name = self.pick(&["ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD"]);
                let mut c = vec![name.to_string()];
                if !self.numkeys_and_keys(&mut c, keys) {
                    return c;
                }
                match name {
                    "ZINTERCARD" if self.chance(50) => c.extend(["LIMIT".into(), self.int(-1, 3)]),
                    "ZUNION" | "ZINTER" if self.chance(30) => {
                        c.extend(["AGGREGATE".into(), self.pick(&["SUM", "MIN", "MAX"]).into()])
                    }
                    _ => {}
                }
                if name != "ZINTERCARD" && self.chance(50) {
                    c.push("WITHSCORES".into());
                }
                c
            }
            24 => {
                let (lo, hi) = self.score_range(false);
                let mut c = vec!["ZRANGESTORE".into(), self.dest("zset"), self.tkey("zset"), lo, hi, "BYSCORE".into()];
                if self.chance(50) {
                    c.truncate(3);
                    c.extend([self.int(-3, 2), self.int(-2, 5)]);
                }
                c
            }
            25 => self.mpop(vec!["ZMPOP".into()], "zset", &["MIN", "MAX", "MID"]),
            26 => {
                let (lo, hi) = self.score_range(false);
                vec!["ZREMRANGEBYSCORE".into(), k, lo, hi]
            }
            27 => vec!["ZREMRANGEBYRANK".into(), k, self.int(-3, 1), self.int(-2, 3)],
            28 => {
                let (lo, hi) = self.score_range(true);
                vec![self.pick(&["ZREMRANGEBYLEX", "ZRANGEBYLEX", "ZREVRANGEBYLEX"]).into(), self.lex_key(), lo, hi]
            }
            29 => {
                let (lo, hi) = self.score_range(false);
                let mut c = vec![self.pick(&["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]).to_string(), k, lo, hi];
                c.extend(self.options(&[&["WITHSCORES"], &["LIMIT", "1", "2"]], 40));
                c
            }
            30 => {
                // Sorted sets for lexicographic ranges: every score 0.
                let mut c = vec!["ZADD".into(), self.lex_key()];
                c.extend(self.options(&[&["NX"], &["XX"], &["CH"]], 15));
                for _ in 0..self.rng.random_range(1..=3) {
                    c.extend(["0".into(), self.member()]);
                }
                c
            }
            31 => vec!["ZREM".into(), self.lex_key(), self.member()],
            0..5 => {
                let mut c = vec!["ZADD".into(), k];
                c.extend(self.options(&[&["NX"], &["XX"], &["GT"], &["LT"], &["CH"], &["INCR"]], 12));
                for _ in 0..self.rng.random_range(1..=3) {
                    c.extend([self.float(), self.member()]);
                }
                c
            }
            5..9 => {
                let by = self.rng.random_range(0..3);
                let mut c = vec!["ZRANGE".into(), if by == 2 { self.lex_key() } else { k }];
                let rev = self.chance(30);
                let (lo, hi) = match by {
                    0 => (self.int(-4, 3), self.int(-3, 6)),
                    _ => self.score_range(by == 2),
                };
                // REV takes the range from high to low: swap so both orders come up.
                let (lo, hi) = if rev && self.chance(70) { (hi, lo) } else { (lo, hi) };
                c.extend([lo, hi]);
                match by {
                    1 => c.push("BYSCORE".into()),
                    2 => c.push("BYLEX".into()),
                    _ => {}
                }
                if rev {
                    c.push("REV".into());
                }
                if self.chance(30) {
                    c.extend(["LIMIT".into(), self.int(-1, 2), self.int(-1, 3)]);
                }
                if self.chance(40) {
                    c.push("WITHSCORES".into());
                }
                c
            }
            9 => vec![self.pick(&["ZRANK", "ZREVRANK"]).into(), k, self.member()],
            10 => vec!["ZSCORE".into(), k, self.member()],
            11 => vec!["ZMSCORE".into(), k, self.member(), self.member()],
            12 => vec!["ZINCRBY".into(), k, self.float(), self.member()],
            13 => vec!["ZREM".into(), k, self.member(), self.member()],
            14 => vec!["ZCARD".into(), k],
            15 => {
                let (lo, hi) = self.score_range(false);
                vec!["ZCOUNT".into(), k, lo, hi]
            }
            16 => {
                let (lo, hi) = self.score_range(true);
                vec!["ZLEXCOUNT".into(), self.lex_key(), lo, hi]
            }
            17 | 18 => {
                let mut c = vec![self.pick(&["ZPOPMIN", "ZPOPMAX"]).to_string(), k];
                if self.chance(50) {
                    c.push(self.int(-1, 3));
                }
                c
            }
            _ => {
                let keys = self.keys("zset", 3, true);
                let n = keys.len();
                let mut c =
                    vec![self.pick(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]).to_string(), self.dest("zset")];
                if !self.numkeys_and_keys(&mut c, keys) || c[0] == "ZDIFFSTORE" {
                    return c;
                }
                if self.chance(30) {
                    c.push("WEIGHTS".into());
                    for _ in 0..n {
                        c.push(self.float());
                    }
                }
                if self.chance(30) {
                    c.extend(["AGGREGATE".into(), self.pick(&["SUM", "MIN", "MAX", "AVG"]).into()]);
                }
                c
            }
        }
    }
}
