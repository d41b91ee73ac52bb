//! slotway's own clients, for `CLIENT LIST` and `CLIENT INFO` (about slotway's
//! clients, not the nodes' connections, which are slotway's own).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What `CLIENT LIST` shows of one client; the session keeps it current.
#[derive(Debug, Clone)]
pub struct ClientRow {
    pub id: u64,
    pub addr: Option<SocketAddr>,
    pub laddr: Option<SocketAddr>,
    pub since: Instant,
    pub name: String,
    pub lib_name: String,
    pub lib_ver: String,
    pub resp: u8,
    pub no_evict: bool,
}

impl ClientRow {
    pub fn new(id: u64, addr: Option<SocketAddr>, laddr: Option<SocketAddr>) -> Self {
        ClientRow {
            id,
            addr,
            laddr,
            since: Instant::now(),
            name: String::new(),
            lib_name: String::new(),
            lib_ver: String::new(),
            resp: 2,
            no_evict: false,
        }
    }

    /// One line in Redis's `CLIENT LIST` format, with the fields of the server behind
    /// slotway (`fields`); fields slotway has no meaning for are 0 (or empty).
    pub fn render(&self, cmd: &str, fields: ClientFields) -> String {
        let show = |a: &Option<SocketAddr>| a.map_or_else(String::new, |a| a.to_string());
        let mut line = String::new();
        let _ = write!(
            line,
            "id={} addr={} laddr={} fd=0 name={} age={} idle=0 flags={}{} db=0 sub=0 psub=0 ssub=0 multi=-1{} \
             qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r \
             cmd={cmd} user=default redir=-1 resp={} lib-name={} lib-ver={}{}{}",
            self.id,
            show(&self.addr),
            show(&self.laddr),
            self.name,
            self.since.elapsed().as_secs(),
            if self.no_evict { "e" } else { "N" },
            if fields.capa { " capa=" } else { "" },
            if fields.watch { " watch=0" } else { "" },
            self.resp,
            self.lib_name,
            self.lib_ver,
            if fields.totals { " tot-net-in=0 tot-net-out=0 tot-cmds=0" } else { "" },
            if fields.io_thread { " io-thread=0" } else { "" },
        );
        line
    }
}

/// The fields newer servers added to `CLIENT LIST` that a line carries: those of the
/// server behind slotway (none: Redis 7.0's, plus 7.2's `lib-name`/`lib-ver`,
/// which slotway always shows since it answers `CLIENT SETINFO`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientFields {
    /// `watch=` after `multi=` (Redis 7.2, Valkey 8).
    pub watch: bool,
    /// `capa=` after `flags=` (Valkey 8).
    pub capa: bool,
    /// `tot-net-in=`, `tot-net-out=`, `tot-cmds=` at the end (Valkey 8).
    pub totals: bool,
    /// `io-thread=` at the end (Redis 8.0).
    pub io_thread: bool,
}

#[derive(Default)]
pub struct Registry {
    rows: Mutex<BTreeMap<u64, Arc<Mutex<ClientRow>>>>,
}

impl Registry {
    pub fn add(&self, row: ClientRow) -> Arc<Mutex<ClientRow>> {
        let row = Arc::new(Mutex::new(row));
        let id = lock(&row).id;
        self.rows.lock().unwrap_or_else(|e| e.into_inner()).insert(id, row.clone());
        row
    }

    pub fn remove(&self, id: u64) {
        self.rows.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    /// The ids of every client.
    pub fn ids(&self) -> Vec<u64> {
        self.rows.lock().unwrap_or_else(|e| e.into_inner()).keys().copied().collect()
    }

    /// `CLIENT LIST [ID id ...]`: every client (or those named), one line each.
    pub fn list(&self, only: Option<&[u64]>, fields: ClientFields) -> String {
        let rows: Vec<Arc<Mutex<ClientRow>>> =
            self.rows.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        let mut out = String::new();
        for row in rows {
            let row = lock(&row).clone();
            if only.is_none_or(|ids| ids.contains(&row.id)) {
                out.push_str(&row.render("client|list", fields));
                out.push('\n');
            }
        }
        out
    }
}

pub fn lock(row: &Mutex<ClientRow>) -> std::sync::MutexGuard<'_, ClientRow> {
    row.lock().unwrap_or_else(|e| e.into_inner())
}
