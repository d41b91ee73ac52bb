//! Comparing replies: a pair of connections (slotway, standalone server) that sends
//! each step to both, and the normalising of what may legitimately differ (listed
//! in the crate doc).

use super::sessions;
use super::support::{RawBytesConn, Reply, decode};
use super::workload::{Send, Step};

/// The reply with what may legitimately differ made equal (see the crate doc).
/// (`sessions.rs` keeps these commands out of steps whose replies it cannot match
/// to their commands: its `NORMALISED` names them.)
pub fn normalise(cmd: &[String], reply: Reply) -> Reply {
    let name = cmd[0].to_ascii_uppercase();
    let reply = sort_unordered(reply);
    match (name.as_str(), reply) {
        ("TTL" | "PTTL" | "EXPIRETIME" | "PEXPIRETIME", Reply::Int(n)) if n > 0 => Reply::Int(1),
        ("SMEMBERS" | "SINTER" | "SUNION" | "SDIFF" | "HKEYS" | "HVALS" | "KEYS", Reply::Array(mut items)) => {
            items.sort();
            Reply::Array(items)
        }
        // CONFIG GET with a pattern: in the server's hash table order.
        ("CONFIG" | "HGETALL", Reply::Array(items)) => {
            let mut pairs: Vec<Vec<Reply>> = items.chunks(2).map(<[Reply]>::to_vec).collect();
            pairs.sort();
            Reply::Array(pairs.concat())
        }
        // Any key will do: only whether there is one is compared.
        ("RANDOMKEY", Reply::Bulk(_)) => Reply::Bulk(b"<a key>".to_vec()),
        ("HELLO", reply) => hello_without_id(reply),
        (_, reply) => reply,
    }
}

/// A HELLO reply without what differs by nature: the connection's id, and the mode
/// (slotway says `cluster`, for cluster clients).
fn hello_without_id(reply: Reply) -> Reply {
    let keep = |k: &Reply| !matches!(k, Reply::Bulk(name) if name == b"id" || name == b"mode");
    match reply {
        Reply::Map(pairs) if pairs.iter().any(|(k, _)| *k == Reply::Bulk(b"proto".to_vec())) => {
            Reply::Map(pairs.into_iter().filter(|(k, _)| keep(k)).collect())
        }
        Reply::Array(items) if items.len() == 14 && items[4] == Reply::Bulk(b"proto".to_vec()) => {
            Reply::Array(items.chunks(2).filter(|kv| keep(&kv[0])).flatten().cloned().collect())
        }
        other => other,
    }
}

/// The channels of an UNSUBSCRIBE (PUNSUBSCRIBE, SUNSUBSCRIBE) without arguments in
/// sorted order: Redis answers in its hash table's order. (The counts after each
/// stay where they are: they only count down.)
fn sort_unsubscribes(replies: &mut [(Reply, Vec<u8>)]) {
    let kind = |r: &Reply| match r {
        Reply::Array(parts) | Reply::Push(parts) if parts.len() == 3 => match &parts[0] {
            Reply::Bulk(k) if k.ends_with(b"unsubscribe") => Some(k.clone()),
            _ => None,
        },
        _ => None,
    };
    let mut start = 0;
    while start < replies.len() {
        let Some(run_kind) = kind(&replies[start].0) else {
            start += 1;
            continue;
        };
        let end =
            (start..replies.len()).find(|&i| kind(&replies[i].0) != Some(run_kind.clone())).unwrap_or(replies.len());
        let channel = |r: &Reply| match r {
            Reply::Array(parts) | Reply::Push(parts) => parts[1].clone(),
            _ => unreachable!("a run of unsubscribe replies"),
        };
        let mut channels: Vec<Reply> = replies[start..end].iter().map(|(r, _)| channel(r)).collect();
        channels.sort();
        for ((reply, _), ch) in replies[start..end].iter_mut().zip(channels) {
            if let Reply::Array(parts) | Reply::Push(parts) = reply {
                parts[1] = ch;
            }
        }
        start = end;
    }
}

/// RESP3 maps and sets in sorted order, at any depth.
fn sort_unordered(reply: Reply) -> Reply {
    match reply {
        Reply::Map(pairs) => {
            let mut pairs: Vec<_> = pairs.into_iter().map(|(k, v)| (sort_unordered(k), sort_unordered(v))).collect();
            pairs.sort();
            Reply::Map(pairs)
        }
        Reply::Set(items) => {
            let mut items: Vec<_> = items.into_iter().map(sort_unordered).collect();
            items.sort();
            Reply::Set(items)
        }
        Reply::Array(items) => Reply::Array(items.into_iter().map(sort_unordered).collect()),
        other => other,
    }
}

/// A reply for a report: its bytes as text, long ones cut short.
pub fn show(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).escape_debug().to_string();
    if text.len() > 600 {
        format!("{}... ({} bytes)", &text[..text.floor_char_boundary(600)], bytes.len())
    } else {
        text
    }
}

/// A command for a report, long arguments cut short.
pub fn show_cmd(cmd: &[String]) -> String {
    let words: Vec<String> = cmd
        .iter()
        .map(|w| if w.len() > 40 { format!("{}...({} bytes)", &w[..20], w.len()) } else { format!("{w:?}") })
        .collect();
    format!("[{}]", words.join(", "))
}

/// One connection to slotway and one to the standalone server, in the same protocol.
pub struct Pair {
    pub proxy: RawBytesConn,
    pub redis: RawBytesConn,
    resp3: bool,
    /// The protocol the pair is for (a step's HELLO or RESET may change it for a while).
    wants_resp3: bool,
    /// Inside MULTI: the commands queued so far, to normalise EXEC's reply.
    queued: Option<Vec<Vec<String>>>,
    /// Markers used so far (`compare_uncounted`).
    markers: u64,
    /// A reply never came: the connections are out of step, the run ends.
    pub broken: bool,
}

impl Pair {
    pub fn open(proxy: &str, redis: &str, resp3: bool) -> Pair {
        let mut pair = Pair {
            proxy: RawBytesConn::connect(proxy),
            redis: RawBytesConn::connect(redis),
            resp3,
            wants_resp3: resp3,
            queued: None,
            markers: 0,
            broken: false,
        };
        if resp3 {
            // The HELLO maps differ by nature (server id, mode ...): only their shape is compared.
            let (p, r) = (pair.proxy.cmd(&["HELLO", "3"]), pair.redis.cmd(&["HELLO", "3"]));
            assert!(p.starts_with(b"%") && r.starts_with(b"%"), "HELLO 3: {} vs {}", show(&p), show(&r));
        }
        pair
    }

    /// Sends the step's commands to both (see [`Send`]); a line for each reply that
    /// differs.
    pub fn compare(&mut self, step: &Step) -> Vec<String> {
        if step.how == Send::Uncounted {
            return self.compare_uncounted(&step.cmds);
        }
        // Both servers work at once (blocking commands wait out their timeouts together).
        let batches: Vec<&[Vec<String>]> =
            if step.how == Send::Pipelined { vec![&step.cmds[..]] } else { step.cmds.chunks(1).collect() };
        let (mut proxy, mut redis) = (Vec::new(), Vec::new());
        for batch in batches {
            match (step.how, sessions::inline(&batch[0])) {
                (Send::Inline, Some(line)) => {
                    self.proxy.send_raw(&line);
                    self.redis.send_raw(&line);
                }
                _ => {
                    self.proxy.send(batch);
                    self.redis.send(batch);
                }
            }
            proxy.extend(batch.iter().map(|_| self.proxy.reply()));
            redis.extend(batch.iter().map(|_| self.redis.reply()));
        }
        let mut diffs = Vec::new();
        for (i, (cmd, (p, r))) in step.cmds.iter().zip(proxy.iter().zip(&redis)).enumerate() {
            let (typed_p, typed_r) = (self.normalise(cmd, p), self.normalise(cmd, r));
            self.track(cmd, r);
            if typed_p != typed_r {
                let within = match step.how {
                    Send::Inline => " (inline)".to_string(),
                    _ if step.cmds.len() == 1 => String::new(),
                    how => format!(" (command {} of {} sent {how:?})", i + 1, step.cmds.len()),
                };
                let proto = if self.resp3 { "RESP3" } else { "RESP2" };
                diffs.push(format!(
                    "{proto}{within} {}\n    slotway: {}\n    redis:   {}",
                    show_cmd(cmd),
                    show(p),
                    show(r)
                ));
            }
        }
        diffs
    }

    /// Sends `cmds` and `ECHO <marker>` at once to both, and compares all the
    /// replies up to the marker's (some commands answer more than once, some not at
    /// all).
    fn compare_uncounted(&mut self, cmds: &[Vec<String>]) -> Vec<String> {
        let marker = format!("marker-{}", self.markers);
        self.markers += 1;
        let mut all = cmds.to_vec();
        all.push(vec!["ECHO".into(), marker.clone()]);
        self.proxy.send(&all);
        self.redis.send(&all);
        // Replies up to the marker's; a missing one (a timeout) ends the run, with what came.
        let until_marker = |conn: &mut RawBytesConn| {
            let mut replies = Vec::new();
            loop {
                let Ok(bytes) = conn.try_reply() else {
                    replies.push((Reply::Error("<no reply>".into()), b"<no more replies: timed out>".to_vec()));
                    return (replies, false);
                };
                let reply = decode(&bytes).expect("a whole reply").0;
                if reply == Reply::Bulk(marker.clone().into_bytes()) {
                    return (replies, true);
                }
                replies.push((sort_unordered(hello_without_id(reply)), bytes));
            }
        };
        let ((mut proxy, proxy_ok), (mut redis, redis_ok)) =
            (until_marker(&mut self.proxy), until_marker(&mut self.redis));
        self.broken |= !(proxy_ok && redis_ok);
        sort_unsubscribes(&mut proxy);
        sort_unsubscribes(&mut redis);
        // The protocol HELLO and RESET leave, as the server's replies say.
        for (_, bytes) in &redis {
            match decode(bytes).expect("a whole reply").0 {
                Reply::Simple(s) if s == "RESET" => {
                    self.resp3 = false;
                    self.queued = None;
                }
                Reply::Map(pairs) if pairs.iter().any(|(k, _)| *k == Reply::Bulk(b"proto".to_vec())) => {
                    self.resp3 = true
                }
                Reply::Array(items) if items.len() == 14 && items[4] == Reply::Bulk(b"proto".to_vec()) => {
                    self.resp3 = false
                }
                _ => {}
            }
        }
        if proxy.iter().map(|(typed, _)| typed).eq(redis.iter().map(|(typed, _)| typed)) {
            return Vec::new();
        }
        let list = |replies: &[(Reply, Vec<u8>)]| replies.iter().map(|(_, b)| show(b)).collect::<Vec<_>>().join(" ");
        let proto = if self.resp3 { "RESP3" } else { "RESP2" };
        vec![format!(
            "{proto} {}\n    slotway: {}\n    redis:   {}",
            cmds.iter().map(|c| show_cmd(c)).collect::<Vec<_>>().join(" "),
            list(&proxy),
            list(&redis)
        )]
    }

    /// The reply to `cmd` normalised; `EXEC`'s, element by element with the queued commands.
    fn normalise(&self, cmd: &[String], bytes: &[u8]) -> Reply {
        let reply = decode(bytes).expect("a whole reply").0;
        match (&self.queued, reply) {
            (Some(queued), Reply::Array(items))
                if cmd[0].eq_ignore_ascii_case("exec") && items.len() == queued.len() =>
            {
                Reply::Array(queued.iter().zip(items).map(|(c, r)| normalise(c, r)).collect())
            }
            (_, reply) => normalise(cmd, reply),
        }
    }

    /// Follows MULTI ... EXEC|DISCARD, HELLO and RESET by the standalone server's replies.
    fn track(&mut self, cmd: &[String], reply: &[u8]) {
        let name = cmd[0].to_ascii_uppercase();
        match (name.as_str(), &mut self.queued) {
            ("MULTI", None) if reply == b"+OK\r\n" => self.queued = Some(Vec::new()),
            ("EXEC" | "DISCARD", _) => self.queued = None,
            ("RESET", _) => {
                self.queued = None;
                self.resp3 = false;
            }
            ("HELLO", _) if matches!(reply.first(), Some(b'%' | b'*')) => self.resp3 = reply[0] == b'%',
            (_, Some(queued)) if reply == b"+QUEUED\r\n" => queued.push(cmd.to_vec()),
            _ => {}
        }
    }

    /// Back to the protocol this pair is for, after a step's HELLO or RESET.
    pub fn restore_protocol(&mut self) {
        if self.resp3 != self.wants_resp3 {
            let hello = ["HELLO", if self.wants_resp3 { "3" } else { "2" }];
            self.proxy.cmd(&hello);
            self.redis.cmd(&hello);
            self.resp3 = self.wants_resp3;
        }
    }

    pub fn compare_one(&mut self, cmd: Vec<String>) -> Vec<String> {
        self.compare(&Step { cmds: vec![cmd], how: Send::OneByOne })
    }
}
