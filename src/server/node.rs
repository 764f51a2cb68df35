//! This server as one node of a cluster (BEHAVIOUR §7): joining the cluster's Redis at
//! start-up, the node's heartbeat, and what nodes tell each other over the bus.
//!
//! Threads (only with `--cluster`): one heartbeat thread, which renews this node's key
//! and its users' login leases every [`HEARTBEAT`] and frees the users of nodes whose key
//! lapsed ([`LEASE`]), and the bus's one subscriber thread, which hands every message
//! to [`State::on_bus`]. Both are started by `server::run` and stopped (and joined) when
//! it returns.
//!
//! A node that lost Redis and got it back does not reap at once: the other nodes may not
//! have renewed their keys yet (a paused Redis lets every key lapse together), so it
//! first waits for [`SETTLE`] heartbeats in a row to succeed.

use super::delivery::Audience;
use super::state::State;
use crate::cluster::bus::Subscriber;
use crate::cluster::{RedisStore, StoreError};
use crate::protocol::Event;
use crossbeam_channel::{select, tick, Receiver, Sender};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often a node says it is alive: a fifth of its lease ([`HEARTBEAT`] by default).
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a node (and its users' logins) outlive its last heartbeat: a `kill -9` is
/// noticed between LEASE and LEASE + HEARTBEAT later, inside BEHAVIOUR's 10 s. The
/// default of [`ClusterConfig::lease`] (tests shorten it with the hidden `--lease`).
pub const LEASE: Duration = Duration::from_secs(5);
/// Successful heartbeats in a row before this node reaps others.
pub const SETTLE: u32 = 3;
/// The bus topic every node listens on.
const TOPIC: &str = "all";

/// Where the cluster's Redis is and what this node is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `redis://HOST:PORT[/DB]` (or `redis+unix:///PATH`).
    pub url: String,
    /// `--node`; `None` = the host name and the port the node listens on.
    pub node: Option<String>,
    /// How long this node's key and its users' logins outlive its last heartbeat
    /// ([`LEASE`]); it beats every fifth of it.
    pub lease: Duration,
    /// How long one Redis call may take before Redis counts as unavailable
    /// ([`crate::cluster::CALL_TIMEOUT`] by default).
    pub redis_timeout: Duration,
}

/// What one node tells every node (itself included) over the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BusMsg {
    /// `SHT` on node `from`: every node shuts down.
    Shutdown { from: String },
    /// The users of a node that died, now logged out everywhere.
    Reaped { node: String, users: Vec<String> },
    /// A line for users, published by node `origin` (which delivered it to its own).
    Deliver {
        origin: String,
        to: Target,
        event: Event,
    },
    /// A block list changed (saved in Redis already): every node's rule follows.
    Block { by: String, user: String, on: bool },
    /// A message was kept offline for `user`, logged in on `node`: that node delivers it.
    Drain { user: String, node: String },
}

/// An [`Audience`] that can cross the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "audience", rename_all = "snake_case")]
pub enum Target {
    User {
        from: String,
        to: String,
        /// The node that had `to` when the sender looked: only it takes the line (and
        /// keeps a message offline if `to` has gone). Absent from older nodes: any node
        /// with `to` delivers it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
    Everyone {
        from: String,
    },
    Users {
        from: String,
        users: Vec<String>,
    },
    Presence {
        about: String,
        /// When it happened (Unix ms, the node's clock); absent from older nodes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        made_ms: Option<i64>,
    },
}

impl Target {
    /// The audience as it crosses the bus; `None` for what stays on one node.
    pub fn of(to: &Audience<'_>) -> Option<Target> {
        let s = str::to_string;
        Some(match *to {
            Audience::User { from, to, at } => Target::User {
                from: s(from),
                to: s(to),
                at: Some(s(at)),
            },
            Audience::Everyone { from } => Target::Everyone { from: s(from) },
            Audience::Users { from, users } => Target::Users {
                from: s(from),
                users: users.to_vec(),
            },
            Audience::Presence { about } => Target::Presence {
                about: s(about),
                made_ms: None,
            },
            Audience::Everybody => return None,
        })
    }

    pub fn audience(&self) -> Audience<'_> {
        match self {
            Target::User { from, to, at } => Audience::User {
                from,
                to,
                at: at.as_deref().unwrap_or_default(),
            },
            Target::Everyone { from } => Audience::Everyone { from },
            Target::Users { from, users } => Audience::Users { from, users },
            Target::Presence { about, .. } => Audience::Presence { about },
        }
    }
}

/// This node: its name, the shared store and, once started, its threads.
pub struct Node {
    pub name: String,
    pub store: Arc<RedisStore>,
    /// [`ClusterConfig::lease`].
    pub lease: Duration,
    threads: Mutex<Option<Threads>>,
    /// Logouts Redis could not take (user, unix ms), retried by the heartbeat: until
    /// then the heartbeat would keep renewing their leases.
    unreleased: Mutex<Vec<(String, i64)>>,
}

struct Threads {
    stop: Sender<()>,
    heart: JoinHandle<()>,
    _subscriber: Subscriber,
}

/// The default node name: this machine's host name and the port.
pub fn default_name(port: u16) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}:{port}")
}

/// A store error as one line (a Redis error may span several).
fn one_line(e: &StoreError) -> String {
    let text = e.to_string();
    text.lines().next().unwrap_or_default().to_string()
}

impl Node {
    /// Connects to the cluster's Redis (refusing data of an unknown format), adds the
    /// `accounts` of this node's credentials file that Redis does not have yet, and says
    /// the node is alive.
    pub fn join(cfg: &ClusterConfig, accounts: &[(String, String)]) -> Result<Node, String> {
        let fail = |e: StoreError| crate::text::cannot_join_cluster(&cfg.url, &one_line(&e));
        let store = RedisStore::open_with(&cfg.url, cfg.redis_timeout).map_err(fail)?;
        let name = cfg.node.clone().unwrap_or_else(|| default_name(0));
        let mut added = 0;
        for (user, secret) in accounts {
            added += usize::from(store.add_account(user, secret).map_err(fail)?);
        }
        store.heartbeat(&name, cfg.lease).map_err(fail)?;
        log::info!("node {name} joined {}; {added} accounts added", cfg.url);
        Ok(Node {
            name,
            store: Arc::new(store),
            lease: cfg.lease,
            threads: Mutex::new(None),
            unreleased: Mutex::new(Vec::new()),
        })
    }

    /// A cluster node's backends: it joins (see [`Node::join`]) and runs on Redis,
    /// with upload bodies in the config's DATA_DIR/uploads.
    pub fn backends(
        cluster: &ClusterConfig,
        config: &super::Config,
        credentials: &[(String, String)],
    ) -> Result<super::state::Backends, String> {
        use crate::cluster::backend::{ClusterLink, ClusterStore};
        let node = Arc::new(Node::join(cluster, credentials)?);
        let forum = super::store::forum::RedisForum::open(
            node.store.clone(),
            &config.data_dir,
            config.max_upload,
        )
        .map_err(|e| format!("cannot open the forum's uploads: {e}"))?;
        let link = Arc::new(ClusterLink::new(node.clone()));
        Ok(super::state::Backends {
            store: Arc::new(ClusterStore::new(node.clone(), forum)),
            broker: link.clone(),
            presence: link,
            node: Some(node),
        })
    }

    /// Starts the heartbeat and the subscriber, which hands each message to `state`.
    pub fn start(self: &Arc<Self>, state: State) -> Result<(), String> {
        let deliver = move |_topic: &str, payload: &[u8]| match serde_json::from_slice(payload) {
            Ok(msg) => state.on_bus(msg),
            Err(e) => log::warn!("bus: a message this node cannot read: {e}"),
        };
        let subscriber = self
            .store
            .subscribe(&[TOPIC], deliver)
            .map_err(|e| one_line(&e))?;
        let (stop, stopped) = crossbeam_channel::bounded(0);
        let node = self.clone();
        let heart = thread::Builder::new()
            .name("heartbeat".into())
            .spawn(move || beat(&node, stopped))
            .map_err(|e| e.to_string())?;
        *self.threads.lock() = Some(Threads {
            stop,
            heart,
            _subscriber: subscriber,
        });
        Ok(())
    }

    /// Stops and joins the threads (the subscriber's with its drop). Idempotent.
    pub fn stop(&self) {
        let threads = self.threads.lock().take();
        if let Some(t) = threads {
            drop(t.stop);
            let _ = t.heart.join();
        }
    }

    /// One publish to every node.
    pub fn publish(&self, msg: &BusMsg) -> Result<(), StoreError> {
        let payload = serde_json::to_vec(msg).expect("bus messages serialise");
        self.store.publish(TOPIC, &payload).map(drop)
    }

    /// `user` logged out of this node at unix ms `at_ms`; a logout Redis cannot take
    /// now is kept for the heartbeat to retry.
    pub fn release(&self, user: &str, at_ms: i64) {
        if let Err(e) = self.store.release_login(user, &self.name, at_ms) {
            log::warn!("cannot release {user}'s login yet: {}", one_line(&e));
            self.unreleased.lock().push((user.to_string(), at_ms));
        }
    }

    /// Retries the logouts Redis could not take; false if it still cannot.
    fn retry_releases(&self) -> bool {
        let pending = std::mem::take(&mut *self.unreleased.lock());
        let mut left = pending
            .into_iter()
            .skip_while(|(user, at)| self.store.release_login(user, &self.name, *at).is_ok());
        let rest: Vec<_> = left.by_ref().collect();
        let done = rest.is_empty();
        self.unreleased.lock().extend(rest);
        done
    }
}

/// The heartbeat thread: retry logouts, renew, then (once settled) reap, until `stop`
/// closes.
fn beat(node: &Node, stop: Receiver<()>) {
    let (store, name) = (&node.store, node.name.as_str());
    let ticker = tick(node.lease / (LEASE.as_secs() / HEARTBEAT.as_secs()) as u32);
    let mut streak = 0u32;
    loop {
        let renewed = match node.retry_releases() {
            true => store.heartbeat(name, node.lease),
            false => Err(StoreError::Unavailable("logouts still pending".into())),
        };
        match renewed {
            Ok(()) => streak = streak.saturating_add(1),
            Err(e) => {
                if streak > 0 {
                    log::warn!("node {name}: heartbeat failed: {}", one_line(&e));
                }
                streak = 0;
            }
        }
        if streak >= SETTLE {
            reap(store, name);
        }
        select! {
            recv(ticker) -> _ => {}
            recv(stop) -> _ => return,
        }
    }
}

fn reap(store: &RedisStore, name: &str) {
    let users = match store.reap_dead_nodes(chrono::Utc::now().timestamp_millis()) {
        Ok(users) if users.is_empty() => return,
        Ok(users) => users,
        Err(e) => return log::warn!("node {name}: reaping failed: {}", one_line(&e)),
    };
    let msg = BusMsg::Reaped {
        node: name.to_string(),
        users,
    };
    let payload = serde_json::to_vec(&msg).expect("bus messages serialise");
    if let Err(e) = store.publish(TOPIC, &payload) {
        log::warn!(
            "node {name}: cannot announce reaped users: {}",
            one_line(&e)
        );
    }
}

impl State {
    /// This node, when the server runs in a cluster.
    pub fn node(&self) -> Option<&Arc<Node>> {
        self.0.node.as_ref()
    }

    /// Tells every node (this one too) `msg`; false if Redis could not take it.
    pub fn publish(&self, msg: &BusMsg) -> bool {
        let Some(node) = self.node() else {
            return false;
        };
        match node.publish(msg) {
            Ok(()) => true,
            Err(e) => {
                log::warn!("bus: cannot publish: {}", one_line(&e));
                false
            }
        }
    }

    /// A message from the bus (on the subscriber thread).
    pub fn on_bus(&self, msg: BusMsg) {
        match msg {
            BusMsg::Shutdown { from } => {
                if !self.is_shutting_down() {
                    self.announce(&crate::text::cluster_shutting_down(&from));
                }
                self.shutdown();
            }
            BusMsg::Reaped { node, users } => self.reaped(&node, &users),
            BusMsg::Deliver { origin, to, event } => {
                if self.node().is_some_and(|n| n.name != origin) {
                    self.delivered_from_elsewhere(&to, &event);
                }
            }
            BusMsg::Block { by, user, on } => self.0.core.lock().blocks.set(&by, &user, on),
            BusMsg::Drain { user, node } => {
                if self.node().is_some_and(|n| n.name == node) {
                    self.drain_here(&user);
                }
            }
        }
    }

    /// Users of a dead node: shown logged out to this node's users.
    fn reaped(&self, by: &str, users: &[String]) {
        let now = std::time::Instant::now();
        let mut core = self.0.core.lock();
        for user in users {
            if !core.roster.left_elsewhere(user, now) {
                continue; // logged in here meanwhile
            }
            core.withdraw_requests(user);
            core.presence(user, &crate::text::logged_out(user));
        }
        drop(core);
        for user in users {
            self.announce(&crate::text::logged_out_node_gone(user, by));
        }
        if let Err(e) = self.write_userlog("") {
            log::error!("cannot write userlog.txt: {e}");
        }
    }
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
