//! A cluster for tests (BEHAVIOUR §7): one real redis-server ([`RedisServer`]: a temp
//! dir, appendonly yes, appendfsync always) and N real `chinwag-server --cluster` nodes
//! named a, b, c..., sharing one data directory (as nodes share DATA_DIR/uploads).
//! Everything is killed by PID on drop.

use super::redis_server::RedisServer;
use super::{password, Client, ServerProc, CREDENTIALS};
use std::net::SocketAddr;

pub struct Cluster {
    pub nodes: Vec<ServerProc>,
    pub redis: RedisServer,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Redis and `n` nodes, each started with `args`, on [`CREDENTIALS`].
    pub fn start(n: usize, args: &[&str]) -> Cluster {
        let redis = RedisServer::start();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("credentials.txt"), CREDENTIALS).unwrap();
        let mut cluster = Cluster {
            nodes: Vec::new(),
            redis,
            dir,
        };
        for _ in 0..n {
            cluster.add_node(args);
        }
        cluster
    }

    /// One more node (named by the next letter), started with `args`.
    pub fn add_node(&mut self, args: &[&str]) -> SocketAddr {
        let name = ((b'a' + self.nodes.len() as u8) as char).to_string();
        let node = ServerProc::node(self.dir.path(), &self.redis.url(), &name, args);
        let addr = node.addr;
        self.nodes.push(node);
        addr
    }

    /// Node `i`'s address.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].addr
    }
}

/// A client logged in on node `node` as `user` (of [`CREDENTIALS`]).
pub fn login(cluster: &Cluster, node: usize, user: &str) -> Client {
    Client::login(cluster.addr(node), user, password(user))
}

/// Waits for the text `want`, skipping presence notices (others logging in or out) on
/// the way: which node's notice comes first is not fixed.
pub fn expect_text(c: &mut Client, want: &str) {
    loop {
        let got = c.text();
        if got == want {
            return;
        }
        assert!(
            got.ends_with(" logged in") || got.ends_with(" logged out"),
            "{}: wanted {want:?}, got {got:?}",
            c.name
        );
    }
}
