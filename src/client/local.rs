//! Commands slotway answers itself, from the client's own state.

use bytes::{BufMut, Bytes, BytesMut};

use std::sync::{Arc, Mutex};

use super::single_node;
use crate::backend::request::ClientTag;
use crate::cluster::node_version::Module;
use crate::cluster::slot::hash_slot;
use crate::command::table::Local;
use crate::error::CommandError;
use crate::observe::clients::{ClientRow, lock};
use crate::protocol::encode::{self, NIL, OK, PONG};
use crate::protocol::{parse_int, request::Args};
use crate::proxy::Proxy;
use crate::users::User;

/// Per-client state the local commands read and change.
#[derive(Debug, Default)]
pub struct ClientState {
    pub id: u64,
    /// slotway's address as this client reached it (what `CLUSTER SLOTS` reports).
    pub local_addr: Option<std::net::SocketAddr>,
    /// Close the connection once the queued replies are written.
    pub closing: bool,
    /// The client switched to RESP3 with `HELLO 3`.
    pub resp3: bool,
    /// This client's line in `CLIENT LIST`.
    pub row: Option<Arc<Mutex<ClientRow>>>,
    /// Who the client logged in as (`AUTH`), when slotway asks for a login.
    pub user: Option<Arc<User>>,
    /// `CLIENT NO-TOUCH ON`: its commands go on node connections that said it.
    pub no_touch: bool,
}

impl ClientState {
    pub fn protocol(&self) -> u8 {
        if self.resp3 { 3 } else { 2 }
    }

    pub fn tag(&self) -> ClientTag {
        ClientTag { id: self.id, resp3: self.resp3, no_touch: self.no_touch }
    }

    /// The null reply in this client's protocol.
    pub fn null(&self) -> Bytes {
        Bytes::from_static(if self.resp3 { b"_\r\n" } else { NIL })
    }

    /// A text reply: a bulk string, or in RESP3 a verbatim `txt` string (as Redis
    /// sends `INFO`, `CLUSTER INFO` and `CLUSTER NODES`).
    pub fn text(&self, text: &[u8]) -> Bytes {
        if self.resp3 { encode::verbatim(text) } else { encode::bulk(text) }
    }
}

/// The reply to a local command. Arity was checked by the classifier.
pub fn answer(cmd: Local, args: Args<'_>, client: &mut ClientState, proxy: &Proxy) -> Bytes {
    let addr = client.local_addr.unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 6380)));
    match cmd {
        Local::ClusterInfo => client.text(single_node::cluster_info(proxy.map.load().covered_slots()).as_bytes()),
        Local::ClusterSlots => single_node::cluster_slots(&addr),
        Local::ClusterShards => single_node::cluster_shards(&addr),
        Local::ClusterNodes => client.text(single_node::cluster_nodes(&addr).as_bytes()),
        // These need the nodes or the session's transaction state: the session handles them.
        Local::Info
        | Local::Multi
        | Local::Exec
        | Local::Discard
        | Local::Watch
        | Local::Unwatch
        | Local::Subscribe
        | Local::PSubscribe
        | Local::SSubscribe
        | Local::Unsubscribe
        | Local::PUnsubscribe
        | Local::SUnsubscribe
        | Local::ClientReply => CommandError::AnsweredBySession.to_reply(),
        Local::ClusterMyId => encode::bulk(single_node::node_id(&addr).as_bytes()),
        Local::ClusterMyShardId => encode::bulk(single_node::shard_id(&addr).as_bytes()),
        Local::ClientCapa => Bytes::from_static(b"+OK\r\n"),
        Local::ClusterReplicas => single_node::cluster_replicas(&addr, args),
        Local::Ping if args.len() == 1 => Bytes::from_static(PONG),
        // PING's arity is -1 in the table, but Redis's pingCommand refuses a second argument.
        Local::Ping if args.len() > 2 => CommandError::WrongArity("ping".into()).to_reply(),
        Local::Ping => encode::bulk(args.get(1)),
        Local::Echo => encode::bulk(args.get(1)),
        Local::Quit => {
            client.closing = true;
            Bytes::from_static(OK)
        }
        Local::Select => match parse_int(args.get(1)) {
            Some(0) => Bytes::from_static(OK),
            Some(_) => CommandError::SelectInCluster.to_reply(),
            None => CommandError::NotAnInteger.to_reply(),
        },
        Local::Auth => auth(args, client, proxy),
        Local::Hello => hello(args, client, proxy),
        Local::Reset => {
            client.resp3 = false;
            client.user = (!proxy.users.required()).then(crate::users::User::nopass_default);
            if let Some(row) = &client.row {
                let mut row = lock(row);
                row.name.clear();
                row.resp = 2;
                row.no_evict = false;
            }
            encode::simple("RESET")
        }
        Local::ReadOnly | Local::ReadWrite => Bytes::from_static(OK),
        // The one node slotway shows (CLUSTER NODES): a primary, no replicas, offset 0.
        Local::Role => Bytes::from_static(b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"),
        Local::ClientSetName => set_name(args.get(2), client),
        // The name lives in the client's CLIENT LIST row (one copy, shown by both).
        Local::ClientGetName => match client.row.as_ref().map(|r| lock(r).name.clone()) {
            Some(name) if !name.is_empty() => encode::bulk(name.as_bytes()),
            _ => client.null(),
        },
        Local::ClientId => encode::integer(client.id as i64),
        Local::ClientInfo => {
            let fields = proxy.node_version.server().client_fields();
            let line = client.row.as_ref().map_or_else(String::new, |r| lock(r).render("client|info", fields));
            client.text(format!("{line}\n").as_bytes())
        }
        Local::ClientList => client_list(args, client, proxy),
        Local::ClientNoEvict | Local::ClientNoTouch => {
            let on = args.get(2);
            if on.eq_ignore_ascii_case(b"on") || on.eq_ignore_ascii_case(b"off") {
                let on = on.eq_ignore_ascii_case(b"on");
                if cmd == Local::ClientNoTouch {
                    client.no_touch = on;
                } else if let Some(row) = &client.row {
                    lock(row).no_evict = on;
                }
                Bytes::from_static(OK)
            } else {
                CommandError::Syntax.to_reply()
            }
        }
        Local::ClientSetInfo => set_info(args.get(2), args.get(3), client),
        Local::ClientGetRedir => encode::integer(-1),
        Local::ClientTrackingInfo => Bytes::from_static(if client.resp3 {
            b"%3\r\n$5\r\nflags\r\n~1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n"
        } else {
            b"*6\r\n$5\r\nflags\r\n*1\r\n$3\r\noff\r\n$8\r\nredirect\r\n:-1\r\n$8\r\nprefixes\r\n*0\r\n"
        }),
        Local::ClientCaching => CommandError::CachingWithoutTracking.to_reply(),
        Local::ClusterKeySlot => encode::integer(hash_slot(args.get(2)) as i64),
        Local::SlotwaySlowlog => crate::observe::command::slowlog(args, &proxy.observe),
        Local::SlotwayHotkeys => crate::observe::command::hotkeys(args, &proxy.observe),
        Local::SlotwayHelp => crate::observe::command::help(),
    }
}

/// `AUTH [user] password`.
fn auth(args: Args<'_>, client: &mut ClientState, proxy: &Proxy) -> Bytes {
    if args.len() > 3 {
        return CommandError::Syntax.to_reply();
    }
    if !proxy.users.required() {
        // As Redis's `default` user with `nopass`: any password for `default` in the
        // two-argument form, the one-argument form refused.
        return match args.len() {
            2 => CommandError::AuthWithoutPassword.to_reply(),
            _ if args.get(1) == b"default" => Bytes::from_static(OK),
            _ => CommandError::WrongPass.to_reply(),
        };
    }
    let (user, password) = if args.len() == 2 { (&b"default"[..], args.get(1)) } else { (args.get(1), args.get(2)) };
    match proxy.users.load().login(user, password) {
        Some(user) => {
            client.user = Some(user);
            Bytes::from_static(OK)
        }
        None => CommandError::WrongPass.to_reply(),
    }
}

/// `CLIENT LIST [TYPE normal|...] [ID id ...]` about slotway's clients.
fn client_list(args: Args<'_>, client: &ClientState, proxy: &Proxy) -> Bytes {
    let mut ids = None;
    let mut i = 2;
    while i < args.len() {
        let opt = args.get(i);
        if opt.eq_ignore_ascii_case(b"id") && i + 1 < args.len() {
            let mut list = Vec::new();
            for a in args.iter().skip(i + 1) {
                match parse_int(a) {
                    Some(id) if id > 0 => list.push(id as u64),
                    _ => return CommandError::InvalidClientId.to_reply(),
                }
            }
            ids = Some(list);
            break;
        } else if opt.eq_ignore_ascii_case(b"type") && i + 1 < args.len() {
            let kind = String::from_utf8_lossy(args.get(i + 1)).to_lowercase();
            match kind.as_str() {
                "normal" | "pubsub" => {}
                "master" | "replica" | "slave" => return client.text(b""),
                _ => return CommandError::UnknownClientType(kind).to_reply(),
            }
            i += 2;
        } else {
            return CommandError::Syntax.to_reply();
        }
    }
    client.text(proxy.clients.list(ids.as_deref(), proxy.node_version.server().client_fields()).as_bytes())
}

/// `CLIENT SETINFO LIB-NAME|LIB-VER value` (Redis 7.2), shown in `CLIENT LIST`.
fn set_info(attr: &[u8], value: &[u8], client: &mut ClientState) -> Bytes {
    if value.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return CommandError::BadClientInfo(String::from_utf8_lossy(attr).into_owned()).to_reply();
    }
    let value = String::from_utf8_lossy(value).into_owned();
    let Some(row) = &client.row else { return Bytes::from_static(OK) };
    let mut row = lock(row);
    if attr.eq_ignore_ascii_case(b"lib-name") {
        row.lib_name = value;
    } else if attr.eq_ignore_ascii_case(b"lib-ver") {
        row.lib_ver = value;
    } else {
        return CommandError::UnrecognizedOption(String::from_utf8_lossy(attr).into_owned()).to_reply();
    }
    Bytes::from_static(OK)
}

fn set_name(name: &[u8], client: &mut ClientState) -> Bytes {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return CommandError::BadClientName.to_reply();
    }
    // Only printable ASCII gets here, so the text is the name byte for byte.
    if let Some(row) = &client.row {
        lock(row).name = String::from_utf8_lossy(name).into_owned();
    }
    Bytes::from_static(OK)
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`: switches between RESP2 and
/// RESP3 and describes the server, as a map (a flat array in RESP2).
fn hello(args: Args<'_>, client: &mut ClientState, proxy: &Proxy) -> Bytes {
    let mut protocol = client.protocol();
    if args.len() >= 2 {
        match parse_int(args.get(1)) {
            Some(v @ (2 | 3)) => protocol = v as u8,
            Some(_) => return CommandError::NoProto.to_reply(),
            None => return CommandError::ProtocolVersionNotInteger.to_reply(),
        }
    }
    let mut i = 2;
    let mut new_name = None;
    while i < args.len() {
        let opt = args.get(i);
        if opt.eq_ignore_ascii_case(b"auth") && i + 2 < args.len() {
            if !proxy.users.required() {
                // No login asked: `default` (nopass) takes any password, as in Redis.
                if args.get(i + 1) != b"default" {
                    return CommandError::WrongPass.to_reply();
                }
            } else {
                match proxy.users.load().login(args.get(i + 1), args.get(i + 2)) {
                    Some(user) => client.user = Some(user),
                    None => return CommandError::WrongPass.to_reply(),
                }
            }
            i += 3;
        } else if opt.eq_ignore_ascii_case(b"setname") && i + 1 < args.len() {
            new_name = Some(args.get(i + 1));
            i += 2;
        } else {
            return CommandError::HelloSyntax(String::from_utf8_lossy(opt).into_owned()).to_reply();
        }
    }
    if proxy.users.required() && client.user.is_none() {
        return CommandError::HelloNoAuth.to_reply();
    }
    if let Some(name) = new_name {
        let r = set_name(name, client);
        if r.first() == Some(&b'-') {
            return r;
        }
    }
    client.resp3 = protocol == 3;
    if let Some(row) = &client.row {
        lock(row).resp = protocol;
    }
    let mut out = BytesMut::with_capacity(200);
    if client.resp3 {
        out.put_slice(b"%7\r\n");
    } else {
        encode::put_array_header(&mut out, 14);
    }
    // As the server behind slotway names itself (`valkey 8.1.8`, `redis 7.0.15`).
    let server = proxy.node_version.server();
    for (k, v) in [("server", server.name.as_str()), ("version", server.version.as_str())] {
        encode::put_bulk(&mut out, k.as_bytes());
        encode::put_bulk(&mut out, v.as_bytes());
    }
    encode::put_bulk(&mut out, b"proto");
    out.put_slice(&encode::integer(protocol as i64));
    encode::put_bulk(&mut out, b"id");
    out.put_slice(&encode::integer(client.id as i64));
    for (k, v) in [("mode", "cluster"), ("role", "master")] {
        encode::put_bulk(&mut out, k.as_bytes());
        encode::put_bulk(&mut out, v.as_bytes());
    }
    encode::put_bulk(&mut out, b"modules");
    put_modules(&mut out, &server.modules, client.resp3);
    out.freeze()
}

/// `HELLO`'s `modules`: the nodes' (every primary's), each as a map of `name`,
/// `ver`, `path` and `args` (a flat array in RESP2), as the server lists its own.
fn put_modules(out: &mut BytesMut, modules: &[Module], resp3: bool) {
    encode::put_array_header(out, modules.len());
    for module in modules {
        if resp3 {
            out.put_slice(b"%4\r\n");
        } else {
            encode::put_array_header(out, 8);
        }
        encode::put_bulk(out, b"name");
        encode::put_bulk(out, module.name.as_bytes());
        encode::put_bulk(out, b"ver");
        out.put_slice(&encode::integer(module.ver));
        encode::put_bulk(out, b"path");
        encode::put_bulk(out, module.path.as_bytes());
        encode::put_bulk(out, b"args");
        encode::put_array_header(out, module.args.len());
        for arg in &module.args {
            encode::put_bulk(out, arg.as_bytes());
        }
    }
}
