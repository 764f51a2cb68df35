//! The single-node suite across a cluster (BEHAVIOUR §7, "the black-box suite is run
//! across a 3-node cluster"): with `CHINWAG_TEST_CLUSTER=N` in the environment, every
//! [`super::TestServer`] is a real redis-server (its files in DATA_DIR/.redis, so a
//! restart on the same DATA_DIR finds the same data) plus N nodes on one DATA_DIR, each
//! its own `State` and listener with the test's configuration and `--cluster` set.
//! The server's address is node 0's; every client a test connects through
//! tests/common ([`super::Client`], [`super::Link`], [`super::Bin`]) goes to the next
//! node in turn, so the tests run unchanged with their users spread over the nodes.
//!
//! A test that by nature is about one server (its stdout, the files it writes, its
//! exit codes, `--max-clients`) calls [`single_node`] with the reason first.

use super::redis_server::RedisServer;
use chinwag::cluster::export::export;
use chinwag::cluster::RedisStore;
use chinwag::server::node::ClusterConfig;
use chinwag::server::{self, Config, State};
use std::cell::Cell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::JoinHandle;

/// The environment variable: how many nodes each test server has.
pub const VAR: &str = "CHINWAG_TEST_CLUSTER";

/// Every node's address and the next one to hand out.
type Route = (Vec<SocketAddr>, usize);

/// Node 0's address → its cluster's [`Route`].
static ROUTES: Mutex<Option<HashMap<SocketAddr, Route>>> = Mutex::new(None);

thread_local! {
    static SINGLE: Cell<bool> = const { Cell::new(false) };
}

/// This test runs on one server even in cluster mode: `why` says what of a single
/// server it checks (kept in the source, where the opt-out is read).
pub fn single_node(why: &str) {
    assert!(!why.is_empty(), "an opt-out says why");
    SINGLE.with(|s| s.set(true));
}

/// How many nodes this test's servers have; `None` for one plain server.
pub fn nodes() -> Option<usize> {
    if SINGLE.with(Cell::get) {
        return None;
    }
    let n: usize = std::env::var(VAR).ok()?.parse().ok()?;
    (n >= 1).then_some(n)
}

/// The address a new connection to `addr` goes to: the next node of its cluster, or
/// `addr` itself.
pub fn route(addr: SocketAddr) -> SocketAddr {
    let mut routes = ROUTES.lock().unwrap();
    let Some((nodes, next)) = routes.as_mut().and_then(|r| r.get_mut(&addr)) else {
        return addr;
    };
    let to = nodes[*next % nodes.len()];
    *next += 1;
    to
}

/// [`route`] for a port given as text (the client binary's arguments).
pub fn route_port(arg: &str) -> String {
    let Ok(port) = arg.parse::<u16>() else {
        return arg.to_string();
    };
    route(SocketAddr::from(([127, 0, 0, 1], port)))
        .port()
        .to_string()
}

/// One running node.
pub struct Node {
    pub addr: SocketAddr,
    pub state: State,
    pub thread: JoinHandle<()>,
}

/// The Redis and the nodes past node 0.
pub struct Nodes {
    pub others: Vec<Node>,
    redis: RedisServer,
    first: SocketAddr,
    /// Where [`Nodes::exported`] wrote (kept until the server stops).
    exports: Mutex<Vec<tempfile::TempDir>>,
}

/// Whether `name` (a path under DATA_DIR) is a file a cluster keeps in Redis and
/// `chinwag-server export` writes: a single server's credentials, logs and threads.
pub fn in_redis(name: &str) -> bool {
    let first = name.split('/').next().unwrap_or_default();
    matches!(first, "credentials.txt" | "messagelog.txt" | "threads")
        || (first.starts_with("SR_") && first.ends_with("_messagelog.txt"))
}

/// Starts Redis on `dir`/.redis and `n` nodes with `config` (plus `--cluster`).
pub fn start(dir: &Path, config: &Config, n: usize) -> (Node, Nodes) {
    let redis = RedisServer::start_in(dir.join(".redis"));
    let mut all: Vec<Node> = (0..n)
        .map(|i| {
            let mut c = config.clone();
            c.cluster = Some(ClusterConfig {
                url: redis.url(),
                node: Some(((b'a' + i as u8) as char).to_string()),
                lease: chinwag::server::node::LEASE,
                // A binary's tests start their servers at once (3 nodes each, every
                // write fsynced): on a loaded machine Redis may take longer than the
                // 2 s default to answer them all. No test here pauses Redis.
                redis_timeout: std::time::Duration::from_secs(10),
            });
            start_node(c)
        })
        .collect();
    let addrs: Vec<SocketAddr> = all.iter().map(|n| n.addr).collect();
    let routes = &mut *ROUTES.lock().unwrap();
    routes
        .get_or_insert_with(HashMap::new)
        .insert(addrs[0], (addrs, 0));
    let first = all.remove(0);
    let nodes = Nodes {
        others: all,
        redis,
        first: first.addr,
        exports: Mutex::new(Vec::new()),
    };
    (first, nodes)
}

fn start_node(config: Config) -> Node {
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let state = State::open(config).unwrap_or_else(|e| panic!("a node did not start: {e}"));
    let s = state.clone();
    let thread = std::thread::spawn(move || server::run(listener, s).unwrap());
    Node {
        addr,
        state,
        thread,
    }
}

impl Nodes {
    /// The file `name` as the cluster has it now: exported from Redis (as
    /// `chinwag-server export` does) into a fresh directory.
    pub fn exported(&self, name: &str) -> PathBuf {
        let dir = tempfile::tempdir().unwrap();
        let store = RedisStore::open(&self.redis.url()).unwrap();
        export(&store, dir.path()).unwrap();
        let path = dir.path().join(name);
        self.exports.lock().unwrap().push(dir);
        path
    }

    /// Shuts the other nodes down, then Redis (node 0 is the caller's).
    pub fn stop(mut self) {
        if let Some(r) = ROUTES.lock().unwrap().as_mut() {
            r.remove(&self.first);
        }
        for n in &self.others {
            n.state.shutdown();
        }
        for n in self.others.drain(..) {
            let _ = n.thread.join();
        }
        self.redis.kill9();
    }
}
