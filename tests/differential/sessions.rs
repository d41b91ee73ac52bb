//! Steps of several commands that change a connection's state: transactions
//! (with WATCH), CLIENT REPLY modes, subscribed mode, HELLO and RESET; and the
//! inline form of a command.

use rand::Rng;

use super::workload::{Cmd, KINDS, Workload};

fn word(w: &str) -> Cmd {
    vec![w.to_string()]
}

fn words(ws: &[&str]) -> Cmd {
    ws.iter().map(|w| w.to_string()).collect()
}

/// Commands whose replies the test normalises by command (unordered members, times
/// to live, a random key): a session's replies cannot be matched to its commands.
const NORMALISED: &[&str] = &[
    "SMEMBERS",
    "SINTER",
    "SUNION",
    "SDIFF",
    "HKEYS",
    "HVALS",
    "HGETALL",
    "KEYS",
    "RANDOMKEY",
    "TTL",
    "PTTL",
    "EXPIRETIME",
    "PEXPIRETIME",
    "CONFIG",
];

impl Workload {
    /// A command for a session: any but those in [`NORMALISED`].
    fn plain_command(&mut self) -> Cmd {
        loop {
            let cmd = self.command();
            if !NORMALISED.contains(&cmd[0].to_ascii_uppercase().as_str()) {
                return cmd;
            }
        }
    }

    /// `[WATCH ...] MULTI ... EXEC|DISCARD`, on `{d}` keys, with the mistakes a client
    /// makes now and then (a command refused while queueing, nested MULTI, WATCH
    /// inside MULTI).
    pub(crate) fn transaction(&mut self) -> Vec<Cmd> {
        self.tagged_only = true;
        let word = |w: &str| vec![w.to_string()];
        let mut cmds = Vec::new();
        if self.chance(30) {
            let mut watch = word("WATCH");
            for _ in 0..self.rng.random_range(1..=2) {
                let kind = self.pick(KINDS);
                watch.push(self.key(kind));
            }
            cmds.push(watch);
            // A write here, perhaps to a watched key, makes EXEC fail (a null reply).
            if self.chance(50) {
                cmds.push(self.command());
            }
        }
        if self.chance(3) {
            cmds.push(word(self.pick(&["EXEC", "DISCARD"])));
        }
        cmds.push(word("MULTI"));
        for _ in 0..self.rng.random_range(0..=4) {
            cmds.push(match self.rng.random_range(0..30) {
                0 => word("MULTI"),
                1 => vec!["WATCH".into(), self.key("str")],
                _ => self.command(),
            });
        }
        cmds.push(word(if self.chance(85) { "EXEC" } else { "DISCARD" }));
        self.tagged_only = false;
        cmds
    }

    /// Commands whose replies are not one each: CLIENT REPLY OFF|SKIP|ON, subscribed
    /// mode, HELLO (with its errors) and RESET in the middle of other state. Every
    /// session ends where it started: replies on, nothing subscribed, no transaction.
    pub(crate) fn session(&mut self) -> Vec<Cmd> {
        let mut cmds = Vec::new();
        match self.rng.random_range(0..8) {
            0 | 1 => {
                let mode = self.pick(&["OFF", "SKIP", "SKIP", "ON", "BOGUS"]);
                cmds.push(words(&["CLIENT", "REPLY", mode]));
                for _ in 0..self.rng.random_range(1..=3) {
                    cmds.push(self.plain_command());
                }
                if self.chance(30) {
                    cmds.push(words(&["CLIENT", "REPLY", "SKIP"]));
                    cmds.push(self.plain_command());
                }
                cmds.push(words(&["CLIENT", "REPLY", "ON"]));
            }
            2 | 3 => {
                let channels = ["c1", "c2", "{d}c3"];
                cmds.push(words(&["SUBSCRIBE", self.pick(&channels), self.pick(&channels)]));
                if self.chance(50) {
                    cmds.push(words(&["PSUBSCRIBE", self.pick(&["c*", "x?"])]));
                }
                if self.chance(30) {
                    cmds.push(words(&["SSUBSCRIBE", "{d}s1", "{d}s2"]));
                }
                for _ in 0..self.rng.random_range(1..=3) {
                    cmds.push(match self.rng.random_range(0..7) {
                        0 => word("PING"),
                        1 => words(&["PING", "hi"]),
                        6 => words(&["PING", "a", "b"]),
                        2 => words(&["UNSUBSCRIBE", self.pick(&channels)]),
                        3 => words(&["SUBSCRIBE", self.pick(&channels)]),
                        // Refused in RESP2 subscribed mode; fine in RESP3.
                        4 => words(&["GET", "{d}str0"]),
                        _ => words(&["PUNSUBSCRIBE", "nothing*"]),
                    });
                }
                cmds.push(word("UNSUBSCRIBE"));
                cmds.push(word("PUNSUBSCRIBE"));
                cmds.push(word("SUNSUBSCRIBE"));
            }
            4 => {
                let hello = match self.rng.random_range(0..9) {
                    0 => words(&["HELLO", self.pick(&["2", "3"])]),
                    1 => words(&["HELLO", self.pick(&["1", "4", "x", "-1"])]),
                    2 => words(&["HELLO", "3", "SETNAME", self.pick(&["n1", "bad name"])]),
                    3 => words(&["HELLO", "3", "SETNAME"]),
                    4 => words(&["HELLO", "2", "AUTH", "default", "any"]),
                    5 => words(&["HELLO", "3", "AUTH", "nobody", "pw"]),
                    6 => words(&["HELLO", "3", "AUTH", "default"]),
                    7 => words(&["HELLO", "3", "NOPE"]),
                    _ => word("HELLO"),
                };
                cmds.push(hello);
                cmds.push(self.plain_command());
                cmds.push(words(&["CLIENT", "GETNAME"]));
            }
            _ => {
                // RESET in the middle of a transaction, a WATCH, subscriptions or
                // CLIENT REPLY OFF: it ends each of them, and the name. (CLIENT
                // SETNAME comes first: inside MULTI slotway refuses the commands it
                // answers itself, a known difference.)
                cmds.push(words(&["CLIENT", "SETNAME", "before-reset"]));
                match self.rng.random_range(0..4) {
                    0 => {
                        cmds.push(word("MULTI"));
                        self.tagged_only = true;
                        cmds.push(self.plain_command());
                        self.tagged_only = false;
                    }
                    1 => {
                        let kind = self.pick(KINDS);
                        let key = self.exact_key(kind, true);
                        cmds.push(vec!["WATCH".into(), key]);
                    }
                    2 => cmds.push(words(&["SUBSCRIBE", "c1"])),
                    _ => cmds.push(words(&["CLIENT", "REPLY", "OFF"])),
                }
                cmds.push(word("RESET"));
                cmds.push(word("EXEC"));
                cmds.push(words(&["CLIENT", "GETNAME"]));
                cmds.push(words(&["PING", "after"]));
            }
        }
        cmds
    }
}

/// `cmd` as an inline request (a line of words, quoted where needed, as Redis's
/// `sdssplitargs` reads them), or `None` if it is too long for one.
pub fn inline(cmd: &[String]) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    for (i, arg) in cmd.iter().enumerate() {
        if i > 0 {
            line.push(b' ');
        }
        let plain = !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_graphic() && !b"\"'\\".contains(&b));
        if plain {
            line.extend_from_slice(arg.as_bytes());
            continue;
        }
        line.push(b'"');
        for b in arg.bytes() {
            match b {
                b'"' => line.extend_from_slice(b"\\\""),
                b'\\' => line.extend_from_slice(b"\\\\"),
                b'\n' => line.extend_from_slice(b"\\n"),
                b'\r' => line.extend_from_slice(b"\\r"),
                b'\t' => line.extend_from_slice(b"\\t"),
                b' ' => line.push(b' '),
                b if b.is_ascii_graphic() => line.push(b),
                b => line.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            }
        }
        line.push(b'"');
    }
    line.extend_from_slice(b"\r\n");
    (line.len() < 4096).then_some(line)
}
