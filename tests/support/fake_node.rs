//! Scripted fake cluster nodes, for the edge cases a real cluster cannot stage on
//! demand: a node that answers `MOVED` forever, `TRYAGAIN` exactly once, half a
//! reply, or nothing at all. Real-cluster tests ([`TestCluster`](super::TestCluster))
//! remain the rule; a fake is for when the misbehaviour or its timing is the point.
//!
//! A [`FakeNode`] is a blocking TCP listener on 127.0.0.1:0, with a thread per
//! connection. It frames RESP2 requests (arrays of bulk strings), records each one
//! (per connection, in order), and asks its [`Script`] what to do: an [`Action`], or
//! `None` for what a plain node answers to what slotway asks on its own: `CLUSTER
//! SLOTS` then `CLUSTER NODES` (its topology query, on a fresh connection), `INFO`
//! (the nodes' version), `ASKING`, `READONLY`, `PING`. Anything else unscripted gets
//! an error naming it. (slotway sends `HELLO 3` only for RESP3 clients and `AUTH`
//! only with `node-password`: scripts answer those if a test needs them.)
//!
//! A [`FakeCluster`] is N fake nodes sharing one slot layout, split evenly at start;
//! their `CLUSTER SLOTS` names their real ports, and [`FakeCluster::assign`] moves a
//! slot as the cluster sees it, behind slotway's back.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::direct::Cmd;

const SLOTS: usize = 16384;
/// What the fake nodes say they run (`INFO`).
const VERSION: &str = "7.2.4";

/// What a node does with one request.
#[derive(Debug, Clone)]
pub enum Action {
    /// These raw bytes (one or more whole replies).
    Reply(Vec<u8>),
    /// The same after a pause; the connection answers nothing else meanwhile, as a
    /// busy Redis does.
    DelayThenReply(Duration, Vec<u8>),
    /// Close the connection without a reply.
    Drop,
    /// Part of a reply, then [`Then`].
    HalfReply(Vec<u8>, Then),
    /// No reply to this request; later ones are answered (return it for every
    /// request for a node that hangs).
    NoReply,
}

/// What follows a [`Action::HalfReply`].
#[derive(Debug, Clone, Copy)]
pub enum Then {
    /// Close the connection.
    Close,
    /// Keep it open, reading and recording, never writing again.
    Stall,
}

impl Action {
    pub fn bulk(text: &str) -> Action {
        Action::Reply(format!("${}\r\n{text}\r\n", text.len()).into_bytes())
    }

    pub fn simple(text: &str) -> Action {
        Action::Reply(format!("+{text}\r\n").into_bytes())
    }

    /// `-<text>\r\n`, e.g. `Action::error("TRYAGAIN ...")`.
    pub fn error(text: &str) -> Action {
        Action::Reply(format!("-{text}\r\n").into_bytes())
    }
}

/// Decides each request: `None` leaves it to the built-in answers (see the module doc).
pub type Script = Box<dyn Fn(&[Vec<u8>], &NodeCtx) -> Option<Action> + Send + Sync>;

/// A [`Script`] from a closure (which gets its argument types from here).
pub fn script(f: impl Fn(&[Vec<u8>], &NodeCtx) -> Option<Action> + Send + Sync + 'static) -> Script {
    Box::new(f)
}

/// A node that behaves: `GET key` answers [`fake_value`] when the layout gives it
/// the key's slot, `MOVED` to the owner otherwise.
pub fn plain_node() -> Script {
    script(answer_as_owner)
}

/// [`plain_node`]'s answer, for scripts that change it only in part.
pub fn answer_as_owner(args: &[Vec<u8>], ctx: &NodeCtx) -> Option<Action> {
    let key = get_key(args)?;
    match ctx.owner(key) {
        owner if owner == ctx.me => Some(Action::bulk(&fake_value(key, ctx.me))),
        owner => Some(ctx.moved(key, owner)),
    }
}

/// The value node `node` holds for `key`: both named, so a reply shows where it came from.
pub fn fake_value(key: &str, node: usize) -> String {
    format!("{key}@node{node}")
}

/// The key of a `GET` request.
pub fn get_key(args: &[Vec<u8>]) -> Option<&str> {
    match args {
        [name, key] if name.eq_ignore_ascii_case(b"GET") => std::str::from_utf8(key).ok(),
        _ => None,
    }
}

/// Whether `args` are the space-separated `words` (case-insensitively): `"CLUSTER SLOTS"`.
pub fn is_cmd(args: &[Vec<u8>], words: &str) -> bool {
    let words: Vec<&str> = words.split(' ').collect();
    args.len() == words.len() && args.iter().zip(words).all(|(a, w)| a.eq_ignore_ascii_case(w.as_bytes()))
}

/// A request as text, for messages.
pub fn show(args: &[Vec<u8>]) -> String {
    args.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>().join(" ")
}

/// The cluster slot of `key` (CRC16 of its hash tag), as Redis computes it.
pub fn hash_slot(key: &str) -> u16 {
    let key = key.as_bytes();
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let close = key[open + 1..].iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &key[open + 1..open + 1 + close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(key)) % SLOTS as u16
}

/// Polls `done` every 10 ms until it holds (true) or `limit` passes (false).
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What a script knows besides the request.
pub struct NodeCtx {
    /// This node's index in its cluster, and its address.
    pub me: usize,
    pub addr: String,
    /// This connection's number on this node (from 0, in accept order).
    pub conn: usize,
    /// The request before this one on this connection.
    pub previous: Option<Cmd>,
    layout: Arc<Layout>,
}

impl NodeCtx {
    /// The node the layout gives `key`'s slot.
    pub fn owner(&self, key: &str) -> usize {
        self.layout.owner(hash_slot(key))
    }

    /// `-MOVED <slot> <node's address>` for `key`.
    pub fn moved(&self, key: &str, to: usize) -> Action {
        Action::error(&format!("MOVED {} {}", hash_slot(key), self.layout.addrs[to]))
    }

    /// `-ASK <slot> <node's address>` for `key`.
    pub fn ask(&self, key: &str, to: usize) -> Action {
        Action::error(&format!("ASK {} {}", hash_slot(key), self.layout.addrs[to]))
    }

    /// The request before this one on this connection was `ASKING`.
    pub fn after_asking(&self) -> bool {
        self.previous.as_deref().is_some_and(|p| is_cmd(p, "ASKING"))
    }
}

/// The slot layout the nodes of one fake cluster agree on.
struct Layout {
    addrs: Vec<String>,
    /// The owning node's index, per slot.
    owners: Mutex<Vec<usize>>,
    /// Bumped by each move, as Redis bumps the config epoch (slotway ignores views
    /// with an older one).
    epoch: AtomicU64,
}

impl Layout {
    fn owner(&self, slot: u16) -> usize {
        self.owners.lock().unwrap()[slot as usize]
    }

    /// (first slot, last slot, owner) for each run of slots with one owner.
    fn ranges(&self) -> Vec<(usize, usize, usize)> {
        let owners = self.owners.lock().unwrap();
        let mut ranges: Vec<(usize, usize, usize)> = Vec::new();
        for (slot, &owner) in owners.iter().enumerate() {
            match ranges.last_mut() {
                Some((_, end, o)) if *o == owner => *end = slot,
                _ => ranges.push((slot, slot, owner)),
            }
        }
        ranges
    }

    fn cluster_slots(&self) -> Vec<u8> {
        let ranges = self.ranges();
        let mut out = format!("*{}\r\n", ranges.len());
        for (start, end, node) in ranges {
            let (host, port) = self.addrs[node].rsplit_once(':').unwrap();
            let id = node_id(node);
            out += &format!(
                "*3\r\n:{start}\r\n:{end}\r\n*3\r\n${}\r\n{host}\r\n:{port}\r\n${}\r\n{id}\r\n",
                host.len(),
                id.len()
            );
        }
        out.into_bytes()
    }

    fn cluster_nodes(&self, me: usize) -> String {
        let ranges = self.ranges();
        let epoch = self.epoch.load(Ordering::SeqCst);
        let mut out = String::new();
        for (node, addr) in self.addrs.iter().enumerate() {
            let port: u32 = addr.rsplit_once(':').unwrap().1.parse().unwrap();
            let flags = if node == me { "myself,master" } else { "master" };
            let slots: Vec<String> =
                ranges.iter().filter(|r| r.2 == node).map(|(start, end, _)| format!("{start}-{end}")).collect();
            let id = node_id(node);
            out += &format!("{id} {addr}@{} {flags} - 0 0 {epoch} connected {}\n", port + 10000, slots.join(" "));
        }
        out
    }
}

fn node_id(node: usize) -> String {
    format!("{:040x}", node + 1)
}

/// Fake nodes sharing one slot layout.
pub struct FakeCluster {
    pub nodes: Vec<FakeNode>,
    layout: Arc<Layout>,
}

impl FakeCluster {
    /// One node per script, the slots split evenly between them in order.
    pub fn start(scripts: Vec<Script>) -> FakeCluster {
        let listeners: Vec<TcpListener> =
            scripts.iter().map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")).collect();
        let addrs = listeners.iter().map(|l| l.local_addr().unwrap().to_string()).collect();
        let n = scripts.len();
        let owners = (0..SLOTS).map(|slot| slot * n / SLOTS).collect();
        let layout = Arc::new(Layout { addrs, owners: Mutex::new(owners), epoch: AtomicU64::new(1) });
        let nodes = listeners
            .into_iter()
            .zip(scripts)
            .enumerate()
            .map(|(me, (listener, script))| FakeNode::start(me, listener, script, layout.clone()))
            .collect();
        FakeCluster { nodes, layout }
    }

    pub fn seeds(&self) -> Vec<String> {
        self.layout.addrs.clone()
    }

    /// Gives `slot` to node `to` in what every node reports (slotway learns of it
    /// only when it asks again).
    pub fn assign(&self, slot: u16, to: usize) {
        self.layout.owners.lock().unwrap()[slot as usize] = to;
        self.layout.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// The node that owns `key`'s slot now.
    pub fn owner(&self, key: &str) -> usize {
        self.layout.owner(hash_slot(key))
    }

    /// `n` keys `<prefix>:<i>`, each in a slot of its own, that node `node` owns.
    pub fn keys_on(&self, node: usize, prefix: &str, n: usize) -> Vec<String> {
        let mut slots = Vec::new();
        let mut keys = Vec::new();
        for key in (0..).map(|i| format!("{prefix}:{i}")) {
            let slot = hash_slot(&key);
            if self.layout.owner(slot) == node && !slots.contains(&slot) {
                slots.push(slot);
                keys.push(key);
                if keys.len() == n {
                    return keys;
                }
            }
        }
        unreachable!()
    }

    pub fn key_on(&self, node: usize, prefix: &str) -> String {
        self.keys_on(node, prefix, 1).remove(0)
    }

    /// Requests matching `words` (see [`is_cmd`]) that any node received.
    pub fn count(&self, words: &str) -> usize {
        self.nodes.iter().map(|n| n.count(words)).sum()
    }
}

/// One fake node; dropping it closes its listener and every connection.
pub struct FakeNode {
    pub addr: String,
    state: Arc<NodeState>,
}

struct NodeState {
    me: usize,
    addr: String,
    script: Script,
    layout: Arc<Layout>,
    /// Every request received, in arrival order, with its connection's number.
    log: Mutex<Vec<(usize, Cmd)>>,
    /// Every accepted socket, to close them all on drop.
    sockets: Mutex<Vec<TcpStream>>,
    stopping: AtomicBool,
}

impl FakeNode {
    fn start(me: usize, listener: TcpListener, script: Script, layout: Arc<Layout>) -> FakeNode {
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(NodeState {
            me,
            addr: addr.clone(),
            script,
            layout,
            log: Mutex::default(),
            sockets: Mutex::default(),
            stopping: AtomicBool::new(false),
        });
        let node = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if node.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let conn = {
                    let mut sockets = node.sockets.lock().unwrap();
                    sockets.push(stream.try_clone().unwrap());
                    sockets.len() - 1
                };
                let node = node.clone();
                std::thread::spawn(move || node.serve(stream, conn));
            }
        });
        FakeNode { addr, state }
    }

    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<Cmd> {
        self.state.log.lock().unwrap().iter().map(|(_, args)| args.clone()).collect()
    }

    /// The requests of each connection, in order, connections in accept order.
    pub fn connections(&self) -> Vec<Vec<Cmd>> {
        let mut conns = vec![Vec::new(); self.state.sockets.lock().unwrap().len()];
        for (conn, args) in self.state.log.lock().unwrap().iter() {
            conns[*conn].push(args.clone());
        }
        conns
    }

    /// The connection of each request matching `words`, in arrival order.
    pub fn conns_of(&self, words: &str) -> Vec<usize> {
        self.state.log.lock().unwrap().iter().filter(|(_, args)| is_cmd(args, words)).map(|(c, _)| *c).collect()
    }

    /// Requests matching `words` (see [`is_cmd`]) received so far.
    pub fn count(&self, words: &str) -> usize {
        self.conns_of(words).len()
    }
}

impl NodeState {
    /// Answers one connection until it closes or the script ends it.
    fn serve(&self, stream: TcpStream, conn: usize) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut out = stream;
        let mut previous = None;
        let mut stalled = false;
        while let Some(args) = read_request(&mut reader) {
            self.log.lock().unwrap().push((conn, args.clone()));
            if stalled {
                continue;
            }
            let ctx = NodeCtx {
                me: self.me,
                addr: self.addr.clone(),
                conn,
                previous: previous.replace(args.clone()),
                layout: self.layout.clone(),
            };
            let action = (self.script)(&args, &ctx).unwrap_or_else(|| self.builtin(&args));
            let keep_going = match action {
                Action::Reply(bytes) => out.write_all(&bytes).is_ok(),
                Action::DelayThenReply(pause, bytes) => {
                    std::thread::sleep(pause);
                    out.write_all(&bytes).is_ok()
                }
                Action::Drop => false,
                Action::HalfReply(bytes, then) => {
                    let written = out.write_all(&bytes).is_ok();
                    stalled = true;
                    written && matches!(then, Then::Stall)
                }
                Action::NoReply => true,
            };
            if !keep_going {
                break;
            }
        }
        // Other handles to the socket stay open (the node's list): shut it down so
        // slotway sees the close now.
        let _ = out.shutdown(Shutdown::Both);
    }

    /// What a plain cluster node answers to what slotway asks on its own.
    fn builtin(&self, args: &[Vec<u8>]) -> Action {
        let word = |i: usize| args.get(i).map(|a| String::from_utf8_lossy(a).to_ascii_uppercase()).unwrap_or_default();
        match (word(0).as_str(), word(1).as_str()) {
            ("CLUSTER", "SLOTS") => Action::Reply(self.layout.cluster_slots()),
            ("CLUSTER", "NODES") => Action::bulk(&self.layout.cluster_nodes(self.me)),
            ("INFO", _) => Action::bulk(&format!("# Server\r\nredis_version:{VERSION}\r\n")),
            ("ASKING" | "READONLY" | "READWRITE", _) => Action::simple("OK"),
            ("PING", _) => Action::simple("PONG"),
            _ => Action::error(&format!("ERR fake node {}: nothing scripted for '{}'", self.addr, show(args))),
        }
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees `stopping`.
        let _ = TcpStream::connect(&self.addr);
        for socket in self.state.sockets.lock().unwrap().iter() {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

/// One request: an array of bulk strings. `None` at EOF or on anything else.
fn read_request(r: &mut impl BufRead) -> Option<Cmd> {
    let count: usize = parse_header(&read_line(r)?, b'*')?;
    (0..count)
        .map(|_| {
            let len: usize = parse_header(&read_line(r)?, b'$')?;
            let mut arg = vec![0; len + 2];
            r.read_exact(&mut arg).ok()?;
            arg.truncate(len);
            Some(arg)
        })
        .collect()
}

fn read_line(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).ok()?;
    line.strip_suffix(b"\r\n").map(<[u8]>::to_vec)
}

fn parse_header(line: &[u8], kind: u8) -> Option<usize> {
    std::str::from_utf8(line.strip_prefix(&[kind])?).ok()?.parse().ok()
}
