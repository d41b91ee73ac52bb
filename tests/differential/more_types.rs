//! Commands of the bitmap, HyperLogLog and stream families, scripts, blocking
//! commands, keyless server commands, and misuse of every kind.

use rand::Rng;

use super::workload::{BAD_NUMBERS, KINDS, Workload};

/// Script bodies and the kind of key each takes (`None`: no key). Replies of every
/// type, errors raised and caught, a compile error, a write in a read-only script.
const SCRIPTS: &[(&str, Option<&str>)] = &[
    ("return redis.call('GET', KEYS[1])", Some("str")),
    ("return redis.call('INCR', KEYS[1])", Some("str")),
    ("return redis.call('HGETALL', KEYS[1])", Some("hash")),
    ("redis.setresp(3); return redis.call('HGETALL', KEYS[1])", Some("hash")),
    ("redis.setresp(3); return redis.call('ZSCORE', KEYS[1], 'a')", Some("zset")),
    ("return redis.pcall('LPUSH', KEYS[1], 'x')", Some("str")),
    ("return redis.call('SET', KEYS[1], ARGV[1])", Some("str")),
    ("return {1, 'two', {3, 'four'}, redis.status_reply('FINE'), false, true, 3.99}", None),
    ("return redis.error_reply('MYERR custom')", None),
    ("return redis.call('NOSUCH')", None),
    ("return +", None),
];

impl Workload {
    pub(crate) fn bits(&mut self) -> Vec<String> {
        let k = self.key("bits");
        match self.rng.random_range(0..12) {
            0..3 => vec!["SETBIT".into(), k, self.int(-1, 40), self.pick(&["0", "1", "1", "2"]).into()],
            3 => vec!["GETBIT".into(), k, self.int(-1, 40)],
            4 | 5 => {
                let mut c = vec!["BITCOUNT".into(), k];
                if self.chance(60) {
                    c.extend([self.int(-3, 3), self.int(-2, 6)]);
                    if self.chance(40) {
                        c.push(self.pick(&["BYTE", "BIT", "WORD"]).into());
                    }
                }
                c
            }
            6 | 7 => {
                let mut c = vec!["BITPOS".into(), k, self.pick(&["0", "1", "1", "3"]).into()];
                if self.chance(60) {
                    c.push(self.int(-3, 3));
                    if self.chance(60) {
                        c.push(self.int(-2, 40));
                        if self.chance(40) {
                            c.push(self.pick(&["BYTE", "BIT"]).into());
                        }
                    }
                }
                c
            }
            8 | 9 => {
                let op = self.pick(&["AND", "OR", "XOR", "NOT", "NOT", "NAND"]);
                let mut c = vec!["BITOP".into(), op.into(), self.dest("bits")];
                c.extend(self.keys("bits", if op == "NOT" { 1 } else { 3 }, true));
                c
            }
            _ => {
                let mut c = vec!["BITFIELD".into(), k];
                for _ in 0..self.rng.random_range(1..=3) {
                    let ty = self.pick(&["u8", "i5", "u4", "i64", "u63", "u64", "x3"]).to_string();
                    let at = self.pick(&["0", "3", "#1", "100", "-1"]).to_string();
                    match self.rng.random_range(0..4) {
                        0 => c.extend(["GET".into(), ty, at]),
                        1 => c.extend(["SET".into(), ty, at, self.int(-20, 300)]),
                        2 => c.extend(["INCRBY".into(), ty, at, self.int(-20, 300)]),
                        _ => c.extend(["OVERFLOW".into(), self.pick(&["WRAP", "SAT", "FAIL", "BAD"]).into()]),
                    }
                }
                c
            }
        }
    }

    pub(crate) fn hll(&mut self) -> Vec<String> {
        match self.rng.random_range(0..3) {
            0 => {
                let mut c = vec!["PFADD".into(), self.key("hll")];
                for _ in 0..self.rng.random_range(0..=4) {
                    c.push(self.member());
                }
                c
            }
            1 => {
                let mut c = vec!["PFCOUNT".to_string()];
                c.extend(if self.chance(50) { vec![self.key("hll")] } else { self.keys("hll", 3, true) });
                c
            }
            _ => {
                let mut c = vec!["PFMERGE".into(), self.tkey("hll")];
                c.extend(self.keys("hll", 3, true));
                c
            }
        }
    }

    /// A stream entry id: mostly increasing with the step, sometimes out of order or malformed.
    pub(crate) fn stream_id(&mut self) -> String {
        match self.rng.random_range(0..20) {
            0 => self.pick(&["0-0", "0", "bad", "1-x", "-1", "18446744073709551615-18446744073709551615"]).into(),
            1..4 => format!("{}-{}", self.rng.random_range(1..=self.step.max(1)), self.rng.random_range(0..3)),
            4..6 => self.step.to_string(),
            _ => format!("{}-{}", self.step, self.rng.random_range(0..3)),
        }
    }

    pub(crate) fn stream_bound(&mut self, rev: bool) -> (String, String) {
        let (lo, hi) = match self.rng.random_range(0..4) {
            0 => (format!("({}", self.stream_id()), self.stream_id()),
            1 => (self.stream_id(), "+".into()),
            _ => ("-".into(), "+".into()),
        };
        if rev { (hi, lo) } else { (lo, hi) }
    }

    pub(crate) fn stream(&mut self) -> Vec<String> {
        let k = self.key("stream");
        match self.rng.random_range(0..23) {
            0..5 => {
                let mut c = vec!["XADD".into(), k];
                c.extend(self.options(&[&["NOMKSTREAM"]], 10));
                if self.chance(15) {
                    c.extend(["MAXLEN".into(), self.pick(&["=", "~", "="]).into(), self.int(0, 6)]);
                }
                c.push(self.stream_id());
                for _ in 0..self.rng.random_range(1..=2) {
                    c.extend([self.field(), self.value()]);
                }
                c
            }
            5 => vec!["XLEN".into(), k],
            6 | 7 => {
                let rev = self.chance(40);
                let (a, b) = self.stream_bound(rev);
                let mut c = vec![if rev { "XREVRANGE" } else { "XRANGE" }.to_string(), k, a, b];
                if self.chance(40) {
                    c.extend(["COUNT".into(), self.int(-1, 3)]);
                }
                c
            }
            8 => vec!["XDEL".into(), k, self.stream_id(), self.stream_id()],
            9 | 10 => {
                let mut c = vec!["XTRIM".into(), k];
                if self.chance(50) {
                    c.extend(["MAXLEN".into(), self.int(-1, 6)]);
                } else {
                    c.extend(["MINID".into(), self.stream_id()]);
                }
                c
            }
            11 => vec!["XREAD".into(), "COUNT".into(), self.int(0, 3), "STREAMS".into(), k, self.stream_id()],
            12 => {
                let mut c =
                    vec!["XGROUP".into(), "CREATE".into(), k, self.pick(&["g1", "g2"]).into(), self.stream_id()];
                c.extend(self.options(&[&["MKSTREAM"]], 50));
                c
            }
            13 => vec!["XGROUP".into(), "DESTROY".into(), k, self.pick(&["g1", "g2"]).into()],
            14 | 15 => {
                let (group, consumer) = (self.pick(&["g1", "g2"]), self.pick(&["c1", "c2"]));
                let mut c = vec!["XREADGROUP".into(), "GROUP".into(), group.into(), consumer.into()];
                c.extend(["COUNT".into(), self.int(1, 3)]);
                c.extend(self.options(&[&["NOACK"]], 20));
                let id = if self.chance(70) { ">".to_string() } else { self.stream_id() };
                c.extend(["STREAMS".into(), k, id]);
                c
            }
            16 => vec!["XACK".into(), k, self.pick(&["g1", "g2"]).into(), self.stream_id(), self.stream_id()],
            17 => vec!["XPENDING".into(), k, self.pick(&["g1", "g2"]).into()],
            18 => vec!["XINFO".into(), self.pick(&["STREAM", "GROUPS"]).into(), k],
            19 => {
                let (group, consumer) = (self.pick(&["g1", "g2"]), self.pick(&["c1", "c2"]));
                let c = [k, group.into(), consumer.into(), "0".into()];
                match self.rng.random_range(0..3) {
                    0 => ["XAUTOCLAIM".to_string()]
                        .into_iter()
                        .chain(c)
                        .chain(["0-0".into(), "COUNT".into(), "2".into()])
                        .collect(),
                    1 => {
                        ["XCLAIM".to_string()].into_iter().chain(c).chain([self.stream_id(), "JUSTID".into()]).collect()
                    }
                    _ => vec!["XGROUP".into(), "SETID".into(), c[0].clone(), group.into(), self.stream_id()],
                }
            }
            _ => self.geo(),
        }
    }

    /// Geospatial commands, on sorted sets (GEORADIUS ... STORE finds its keys
    /// beyond the key itself).
    pub(crate) fn geo(&mut self) -> Vec<String> {
        let k = self.key("zset");
        let member = self.member();
        let (lon, lat) =
            self.pick(&[("13.361389", "38.115556"), ("15.087269", "37.502669"), ("2.35", "48.85"), ("181", "0")]);
        match self.rng.random_range(0..6) {
            0 | 1 => vec!["GEOADD".into(), k, lon.into(), lat.into(), member],
            2 => vec!["GEOPOS".into(), k, member, self.member()],
            3 => vec!["GEODIST".into(), k, member, self.member(), self.pick(&["m", "km", "mi", "parsec"]).into()],
            4 => {
                let mut c =
                    vec!["GEOSEARCH".into(), k, "FROMLONLAT".into(), "15".into(), "37".into(), "BYRADIUS".into()];
                c.extend([self.pick(&["200", "1000", "-1"]).into(), "km".into(), "ASC".into()]);
                c.extend(self.options(&[&["WITHDIST"], &["WITHCOORD"], &["COUNT", "2"]], 40));
                c
            }
            _ => {
                let mut c =
                    vec!["GEORADIUS".into(), self.tkey("zset"), "15".into(), "37".into(), "300".into(), "km".into()];
                c.extend(self.options(&[&["ASC"], &["COUNT", "3"]], 50));
                c.extend([self.pick(&["STORE", "STOREDIST"]).into(), self.dest("zset")]);
                c
            }
        }
    }

    /// EVAL, EVAL_RO, EVALSHA and SCRIPT LOAD|EXISTS|FLUSH over [`SCRIPTS`].
    pub(crate) fn script(&mut self) -> Vec<String> {
        let (body, kind) = self.pick(SCRIPTS);
        let sha = sha1_smol::Sha1::from(body).digest().to_string();
        let mut c = match self.rng.random_range(0..12) {
            0..5 => vec![self.pick(&["EVAL", "EVAL", "EVAL_RO"]).to_string(), body.into()],
            5..9 => vec![self.pick(&["EVALSHA", "EVALSHA", "EVALSHA_RO"]).to_string(), sha],
            9 if !self.tagged_only => return vec!["SCRIPT".into(), "LOAD".into(), body.into()],
            10 if !self.tagged_only => {
                let (other, _) = self.pick(SCRIPTS);
                let other = sha1_smol::Sha1::from(other).digest().to_string();
                return vec!["SCRIPT".into(), "EXISTS".into(), sha, other, "0".repeat(40)];
            }
            11 if !self.tagged_only && self.chance(10) => return vec!["SCRIPT".into(), "FLUSH".into()],
            _ => vec!["EVALSHA".into(), "ffffffffffffffffffffffffffffffffffffffff".into()],
        };
        match kind {
            Some(kind) => c.extend(["1".into(), self.tkey(kind), self.value()]),
            None => c.push("0".into()),
        }
        c
    }

    /// Blocking commands with timeouts of a millisecond or so (never 0: that waits forever).
    pub(crate) fn blocking(&mut self) -> Vec<String> {
        let timeout = self.pick(&["0.001", "0.001", "0.001", "0.01", "-1", "x"]).to_string();
        match self.rng.random_range(0..7) {
            0 | 1 => {
                let mut c = vec![self.pick(&["BLPOP", "BRPOP"]).to_string()];
                c.extend(if self.chance(50) { vec![self.key("list")] } else { self.keys("list", 3, true) });
                c.push(timeout);
                c
            }
            2 => {
                let (from, to) = (self.pick(&["LEFT", "RIGHT"]), self.pick(&["LEFT", "RIGHT"]));
                vec!["BLMOVE".into(), self.tkey("list"), self.tkey("list"), from.into(), to.into(), timeout]
            }
            3 => vec![self.pick(&["BZPOPMIN", "BZPOPMAX"]).into(), self.key("zset"), timeout],
            4 => self.mpop(vec!["BLMPOP".into(), timeout], "list", &["LEFT", "RIGHT"]),
            5 => self.mpop(vec!["BZMPOP".into(), timeout], "zset", &["MIN", "MAX"]),
            _ => {
                let id = if self.chance(50) { "$".to_string() } else { self.stream_id() };
                vec![
                    "XREAD".into(),
                    "BLOCK".into(),
                    self.pick(&["1", "1", "10"]).into(),
                    "STREAMS".into(),
                    self.key("stream"),
                    id,
                ]
            }
        }
    }

    /// Keyless commands: slotway sends them to every primary (or any one) and merges.
    pub(crate) fn server(&mut self) -> Vec<String> {
        let kind = self.pick(KINDS);
        let k = self.key(kind);
        match self.rng.random_range(0..40) {
            0..6 => vec!["KEYS".into(), self.pick(&["*", "{d}*", "str:*", "*[0-1]", "?ist*", "h*", "nomatch*"]).into()],
            6..9 => vec!["DBSIZE".into()],
            9 | 10 => vec!["RANDOMKEY".into()],
            11 => vec![self.pick(&["FLUSHALL", "FLUSHDB"]).into(), self.pick(&["SYNC", "ASYNC", "NOW"]).into()],
            12..15 => vec!["COMMAND".into(), "COUNT".into()],
            15..18 => vec!["COMMAND".into(), "INFO".into(), self.pick(&["get", "sintercard", "nosuch"]).into()],
            18..21 => {
                let mut c = vec!["COMMAND".into(), "GETKEYS".into()];
                c.extend(
                    match self.rng.random_range(0..4) {
                        0 => vec!["SET", "a", "b"],
                        1 => vec!["MSET", "a", "1", "b", "2"],
                        2 => vec!["EVAL", "return 1", "2", "a", "b"],
                        _ => vec!["GET"],
                    }
                    .into_iter()
                    .map(String::from),
                );
                c
            }
            21..24 => vec!["OBJECT".into(), self.pick(&["FREQ", "REFCOUNT"]).into(), k],
            // No MEMORY USAGE: a cluster node's keys carry 16 bytes more (their links
            // in the slot's key list), a difference slotway cannot hide.
            24..28 => vec!["OBJECT".into(), "ENCODING".into(), k],
            28 => vec!["SELECT".into(), self.pick(&["0", "x"]).into()],
            // Encodings' thresholds, on every node (not a hash's: a hash table would
            // give HGETALL inside scripts each server's own order).
            29 if self.chance(30) => {
                let (param, values) = self.pick(&[
                    ("list-max-listpack-size", &["-2", "4", "128", "x"][..]),
                    ("set-max-intset-entries", &["2", "512"]),
                    ("zset-max-listpack-entries", &["2", "128"]),
                    ("zset-max-listpack-value", &["4", "64"]),
                    ("nosuch-parameter", &["1"]),
                ]);
                vec!["CONFIG".into(), "SET".into(), param.into(), self.pick(values).into()]
            }
            29 => {
                let pattern = self.pick(&[
                    "list-max-listpack-size",
                    "set-max-*",
                    "zset-max-listpack-*",
                    "nosuch",
                    "maxmemory-policy",
                ]);
                vec!["CONFIG".into(), "GET".into(), pattern.into()]
            }
            30..33 => vec!["CLIENT".into(), "SETNAME".into(), self.pick(&["n1", "n2", "bad name"]).into()],
            33..36 => vec!["CLIENT".into(), "GETNAME".into()],
            _ => vec!["ECHO".into(), self.value()],
        }
    }

    /// Wrong argument counts, unknown commands and subcommands, and the like.
    pub(crate) fn misuse(&mut self) -> Vec<String> {
        let k = self.key("str");
        match self.rng.random_range(0..14) {
            0 => {
                let name = self.pick(&["GET", "SET", "LPUSH", "HSET", "ZADD", "XADD", "EXPIRE", "SINTERCARD", "MGET"]);
                vec![name.into()]
            }
            1 => vec![self.pick(&["GET", "TTL", "TYPE", "STRLEN", "LLEN", "SCARD"]).into(), k.clone(), k],
            // A subcommand's full name is no command's name.
            2 => vec![self.pick(&["NOSUCHCOMMAND", "CONFIG|GET", "client|id"]).into(), k, "arg".into()],
            3 => vec![self.pick(&["OBJECT", "XINFO", "CONFIG", "CLIENT", "MEMORY"]).into(), "NOPE".into(), k],
            4 => vec![self.pick(&["OBJECT", "XINFO", "XGROUP"]).into()],
            12 => {
                let container =
                    self.pick(&["OBJECT", "XINFO", "CONFIG", "COMMAND", "CLIENT", "SCRIPT", "PUBSUB", "MEMORY"]);
                vec![container.into(), "HELP".into()]
            }
            // Nobody is subscribed outside a session's own step: no receivers. (In a
            // transaction, a shard channel must be in the transaction's slot.)
            13 if self.tagged_only => vec!["SPUBLISH".into(), "{d}s1".into(), "hi".into()],
            13 => vec![self.pick(&["PUBLISH", "SPUBLISH"]).into(), self.pick(&["c1", "{d}s1"]).into(), "hi".into()],
            5 => vec!["PING".into(), self.value()],
            6 => vec!["ECHO".into(), self.value()],
            7 => vec!["SET".into(), k, "v".into(), "EX".into(), self.pick(BAD_NUMBERS).into()],
            8 => vec!["EXPIRE".into(), k, "100".into(), "NX".into(), "XX".into()],
            9 => vec!["ZUNIONSTORE".into(), "{d}zset0".into(), self.pick(&["0", "-1", "x"]).into()],
            10 => vec!["get".into(), k],
            _ => vec!["HINCRBY".into(), "{d}hash0".into(), "n".into(), self.pick(BAD_NUMBERS).into()],
        }
    }
}
