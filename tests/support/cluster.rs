//! One real six-node cluster per test, on its own ports and in its own temp dir, so
//! tests (and test binaries) run in parallel without sharing state.
//!
//! The nodes run the server named by `SLOTWAY_TEST_SERVER` (see [`default_server`]),
//! Debian 12's Redis 7.0 when it is unset; [`TestCluster::start_server`] picks one.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use tempfile::TempDir;

use super::direct::myid;
use super::resp::{RawConn, Value, connect, encode, try_connect};

const NODES: u16 = 6;
/// Redis puts a node's cluster bus on its port + 10000; both must be free.
const BUS_OFFSET: u16 = 10_000;
const START_ATTEMPTS: usize = 5;

/// Ports handed to clusters of this process that are still running: the bind check
/// alone cannot see a range another thread picked but has not bound yet.
static RESERVED: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

pub struct TestCluster {
    base_port: u16,
    dir: TempDir,
    /// For a TLS cluster: the dir with ca.crt, node.crt, node.key.
    tls: Option<PathBuf>,
    /// For a cluster whose nodes want a login: how to log in.
    login: Option<Login>,
    /// The server binary its nodes run (absolute).
    server: PathBuf,
}

/// How clients log in to the nodes of a cluster started with
/// [`TestCluster::start_requirepass`] or [`TestCluster::start_acl_user`].
#[derive(Debug, Clone)]
pub struct Login {
    /// `None`: `AUTH <password>` (requirepass); `Some`: `AUTH <user> <password>`.
    pub user: Option<String>,
    pub password: String,
}

impl Login {
    /// The `AUTH` command for this login.
    pub fn auth(&self) -> Vec<&str> {
        let mut args = vec!["AUTH"];
        args.extend(self.user.as_deref());
        args.push(&self.password);
        args
    }
}

/// One line of CLUSTER NODES.
#[derive(Debug, Clone)]
pub struct ClusterNode {
    pub id: String,
    /// "ip:port", without the bus port or hostname.
    pub addr: String,
    pub flags: Vec<String>,
    /// The primary's id, for a replica.
    pub master_id: Option<String>,
    /// Owned slot ranges, inclusive.
    pub slots: Vec<(u16, u16)>,
}

impl ClusterNode {
    /// Has the flag `flag` ("master", "slave", "fail", "myself" ...).
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
    pub fn is_primary(&self) -> bool {
        self.has_flag("master")
    }
    pub fn is_replica(&self) -> bool {
        self.has_flag("slave")
    }
    pub fn is_failed(&self) -> bool {
        self.has_flag("fail") || self.has_flag("fail?")
    }
}

fn testbed_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster-testbed/testbed.sh")
}

/// The server binary that clusters (and [`Standalone`](super::Standalone)) run unless
/// a test names one: `SLOTWAY_TEST_SERVER`, as for [`server_binary`], else `redis-7.0`.
/// Resolved once per test process.
pub fn default_server() -> &'static Path {
    static SERVER: OnceLock<PathBuf> = OnceLock::new();
    SERVER.get_or_init(|| {
        let name = std::env::var("SLOTWAY_TEST_SERVER").unwrap_or_default();
        server_binary(if name.is_empty() { "redis-7.0" } else { &name })
    })
}

/// The server binary for `name`: an absolute path as it is, else a name that
/// `cluster-testbed/ensure-server.sh` knows (`redis-7.0`, `valkey-8.1`, `redis-8.0`),
/// which installs or builds it the first time on a machine (Redis 8.0: a few minutes)
/// and prints its path. Asked once per name per test process.
pub fn server_binary(name: &str) -> PathBuf {
    if Path::new(name).is_absolute() {
        return PathBuf::from(name);
    }
    static RESOLVED: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    // Held while the script runs: threads wanting the same name wait for one answer.
    let mut resolved = RESOLVED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let resolved = resolved.get_or_insert_with(HashMap::new);
    if let Some(path) = resolved.get(name) {
        return path.clone();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster-testbed/ensure-server.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(name)
        .stdin(Stdio::null())
        // Its progress lines ("building Redis 8.0.2 ...") go to the test's stderr.
        .stderr(Stdio::inherit())
        .output()
        .expect("run cluster-testbed/ensure-server.sh");
    assert!(out.status.success(), "ensure-server.sh {name} failed ({})", out.status);
    let path = PathBuf::from(String::from_utf8(out.stdout).expect("UTF-8 path").trim());
    assert!(path.is_absolute(), "ensure-server.sh {name} printed {path:?}, not an absolute path");
    resolved.insert(name.to_string(), path.clone());
    path
}

/// The port of "host:port", as text.
pub fn port_of(addr: &str) -> &str {
    addr.rsplit(':').next().expect("addr is host:port")
}

impl TestCluster {
    /// Start a cluster and wait until every node agrees on it (testbed.sh does the
    /// waiting). Retries on other ports: parallel test processes can race for a range
    /// between our bind check and redis-server's bind.
    pub fn start() -> TestCluster {
        TestCluster::start_with(None, None, default_server())
    }

    /// A cluster whose nodes run the server `name` (as for [`server_binary`]:
    /// `redis-7.0`, `valkey-8.1`, `redis-8.0`, or an absolute path), whatever
    /// `SLOTWAY_TEST_SERVER` says.
    pub fn start_server(name: &str) -> TestCluster {
        TestCluster::start_with(None, None, &server_binary(name))
    }

    /// A TLS-only cluster (`testbed.sh --tls`): nodes on `tls-port`, TLS on the bus
    /// and for replication, client certificates required (`certs` as for
    /// [`Certs`](super::Certs)). Plain-TCP helpers cannot talk to its nodes.
    pub fn start_tls(certs: &Path) -> TestCluster {
        TestCluster::start_with(Some(certs.to_path_buf()), None, default_server())
    }

    /// A cluster whose nodes want `AUTH <password>` (`testbed.sh --requirepass`).
    /// [`redis_cli`](Self::redis_cli), [`connect_node`](Self::connect_node) and the
    /// topology helpers log in; the free helpers (`connect`, `slot_owners` ...) do not.
    pub fn start_requirepass(password: &str) -> TestCluster {
        TestCluster::start_with(None, Some(Login { user: None, password: password.into() }), default_server())
    }

    /// A cluster whose nodes know only the ACL user `user` (`testbed.sh --acl-user`:
    /// the `default` user is off); logging in as for [`start_requirepass`](Self::start_requirepass).
    pub fn start_acl_user(user: &str, password: &str) -> TestCluster {
        let login = Login { user: Some(user.into()), password: password.into() };
        TestCluster::start_with(None, Some(login), default_server())
    }

    fn start_with(tls: Option<PathBuf>, login: Option<Login>, server: &Path) -> TestCluster {
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let dir = tempfile::Builder::new().prefix("slotway-cluster-").tempdir().expect("temp dir");
            let base_port = reserve_base_port();
            let cluster =
                TestCluster { base_port, dir, tls: tls.clone(), login: login.clone(), server: server.to_path_buf() };
            let base = base_port.to_string();
            let server_arg = server.to_str().expect("UTF-8 server path");
            let mut args = vec!["start", "--base-port", &base, "--node-timeout", "2000", "--server", server_arg];
            if let Some(certs) = &tls {
                args.extend(["--tls", certs.to_str().expect("UTF-8 cert dir")]);
            }
            let login_arg = login.as_ref().map(|l| match &l.user {
                None => ("--requirepass", l.password.clone()),
                Some(user) => ("--acl-user", format!("{user}:{}", l.password)),
            });
            if let Some((flag, value)) = &login_arg {
                args.extend([*flag, value.as_str()]);
            }
            let out = cluster.testbed(&args);
            if out.status.success() {
                return cluster;
            }
            failures.push(format!("port {base_port}: {}", String::from_utf8_lossy(&out.stderr).trim()));
            // Dropping stops whatever part of it did start and frees the ports.
            drop(cluster);
        }
        panic!("could not start a test cluster in {START_ATTEMPTS} attempts:\n{}", failures.join("\n"));
    }

    fn testbed(&self, args: &[&str]) -> std::process::Output {
        Command::new("bash")
            .arg(testbed_script())
            .args(args)
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run cluster-testbed/testbed.sh")
    }

    /// All six nodes, primaries and replicas, as "127.0.0.1:port".
    pub fn addrs(&self) -> Vec<String> {
        (0..NODES).map(|i| format!("127.0.0.1:{}", self.base_port + i)).collect()
    }

    pub fn seed(&self) -> String {
        self.addrs().remove(0)
    }

    /// Where the node data, logs (`<port>/redis.log`) and pidfiles live.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// PIDs of the node processes, from their pidfiles.
    pub fn pids(&self) -> Vec<u32> {
        self.addrs().iter().filter_map(|addr| self.pid_of(addr)).collect()
    }

    /// The PID of the node at `addr`, from its pidfile (no need to log in to ask).
    pub fn pid_of(&self, addr: &str) -> Option<u32> {
        let file = self.dir.path().join(port_of(addr)).join("redis.pid");
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    }

    /// The server binary its nodes run, for starting a stopped node again by hand.
    pub fn server(&self) -> &Path {
        &self.server
    }

    /// How this cluster's nodes want clients to log in, if they do.
    pub fn login(&self) -> Option<&Login> {
        self.login.as_ref()
    }

    /// A plain connection to a node, logged in when the nodes want it.
    pub fn connect_node(&self, addr: &str) -> RawConn {
        self.try_connect_node(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    /// Like [`connect_node`](Self::connect_node), for nodes that may be down.
    pub fn try_connect_node(&self, addr: &str) -> std::io::Result<RawConn> {
        let mut conn = try_connect(addr)?;
        if let Some(login) = &self.login {
            conn.try_send(&encode(&login.auth()))?;
            let reply = conn.try_read_reply()?;
            if reply != Value::ok() {
                return Err(std::io::Error::other(format!("AUTH on {addr}: {reply:?}")));
            }
        }
        Ok(conn)
    }

    /// The topology as a live node sees it now. Asks each node in turn, since a test
    /// may have stopped some of them.
    pub fn nodes(&self) -> Vec<ClusterNode> {
        self.addrs()
            .iter()
            .find_map(|addr| self.cluster_nodes(addr))
            .unwrap_or_else(|| panic!("no cluster node answered CLUSTER NODES"))
    }

    /// [`cluster_nodes`] of the node at `addr`, logged in when the nodes want it.
    pub fn cluster_nodes(&self, addr: &str) -> Option<Vec<ClusterNode>> {
        nodes_over(self.try_connect_node(addr).ok()?)
    }

    /// Primaries that are not marked failed, sorted by address.
    pub fn primaries(&self) -> Vec<String> {
        self.addrs_where(|n| n.is_primary() && !n.is_failed())
    }

    pub fn replicas(&self) -> Vec<String> {
        self.addrs_where(|n| n.is_replica() && !n.is_failed())
    }

    fn addrs_where(&self, keep: impl Fn(&ClusterNode) -> bool) -> Vec<String> {
        let mut addrs: Vec<String> = self.nodes().into_iter().filter(keep).map(|n| n.addr).collect();
        addrs.sort();
        addrs
    }

    /// The primary that owns `slot` now.
    pub fn node_for_slot(&self, slot: u16) -> String {
        self.slot_owner_now(slot).unwrap_or_else(|| panic!("no primary owns slot {slot}"))
    }

    /// The live primary owning `slot` as the cluster sees it now, or `None` while no
    /// live primary does (mid-failover).
    pub fn slot_owner_now(&self, slot: u16) -> Option<String> {
        self.nodes()
            .into_iter()
            .find(|n| n.is_primary() && !n.is_failed() && n.slots.iter().any(|&(a, b)| (a..=b).contains(&slot)))
            .map(|n| n.addr)
    }

    /// Node id ("40 hex") of `addr`, from `CLUSTER MYID`.
    pub fn node_id(&self, addr: &str) -> String {
        myid(self.connect_node(addr), addr)
    }

    /// Run `redis-cli` against one node and return its stdout: handy for admin
    /// commands (CLUSTER SETSLOT, MIGRATE, --cluster reshard ...).
    pub fn redis_cli(&self, addr: &str, args: &[&str]) -> String {
        let mut cli = Command::new("redis-cli");
        if let Some(certs) = &self.tls {
            cli.arg("--tls");
            for (flag, file) in [("--cacert", "ca.crt"), ("--cert", "node.crt"), ("--key", "node.key")] {
                cli.arg(flag).arg(certs.join(file));
            }
        }
        if let Some(login) = &self.login {
            if let Some(user) = &login.user {
                cli.args(["--user", user]);
            }
            cli.args(["--pass", &login.password, "--no-auth-warning"]);
        }
        let out = cli
            .args(["-h", "127.0.0.1", "-p", port_of(addr)])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // Best effort: a failing stop must not turn a test failure into an abort.
        let out = self.testbed(&["stop"]);
        if !out.status.success() {
            eprintln!("testbed.sh stop failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        if let Some(set) = RESERVED.lock().unwrap().as_mut() {
            for p in port_set(self.base_port) {
                set.remove(&p);
            }
        }
    }
}

fn port_set(base: u16) -> impl Iterator<Item = u16> {
    (base..base + NODES).chain(base + BUS_OFFSET..base + BUS_OFFSET + NODES)
}

/// A random base port whose six node ports and six bus ports are all free now.
fn reserve_base_port() -> u16 {
    let mut reserved = RESERVED.lock().unwrap();
    let reserved = reserved.get_or_insert_with(HashSet::new);
    for _ in 0..1000 {
        let base: u16 = rand::random_range(20_000..=40_000);
        let free = port_set(base).all(|p| !reserved.contains(&p) && TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            reserved.extend(port_set(base));
            return base;
        }
    }
    panic!("no free port range for a test cluster");
}

/// CLUSTER NODES as the node at `addr` sees it; `None` if it does not answer: it is
/// down (refuses the connection, or drops it because it is dying right now), or
/// replies with something other than the node list.
pub fn cluster_nodes(addr: &str) -> Option<Vec<ClusterNode>> {
    nodes_over(try_connect(addr).ok()?)
}

fn nodes_over(mut conn: RawConn) -> Option<Vec<ClusterNode>> {
    conn.try_send(&encode(&["CLUSTER", "NODES"])).ok()?;
    match conn.try_read_reply().ok()? {
        Value::Bulk(text) => Some(parse_cluster_nodes(&String::from_utf8_lossy(&text))),
        _ => None,
    }
}

/// Parse CLUSTER NODES text:
/// `<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>...`
pub fn parse_cluster_nodes(text: &str) -> Vec<ClusterNode> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let addr = f[1].split(['@', ',']).next().unwrap().to_string();
            let slots = f[8..]
                .iter()
                .filter(|s| !s.starts_with('[')) // importing/migrating markers, not ownership
                .map(|s| match s.split_once('-') {
                    Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                    None => (s.parse().unwrap(), s.parse().unwrap()),
                })
                .collect();
            ClusterNode {
                id: f[0].to_string(),
                addr,
                flags: f[2].split(',').map(str::to_string).collect(),
                master_id: (f[3] != "-").then(|| f[3].to_string()),
                slots,
            }
        })
        .collect()
}
