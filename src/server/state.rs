//! The shared-state facade: one cloneable [`State`] whose methods lock, change, copy out
//! and unlock. `login.rs`, `offline.rs`, `anywhere.rs` and every file of the `cmd` layer
//! add `impl State` blocks of their own; this file holds the data and what they share.
//!
//! What lasts is the [`Store`]'s (`store`: DATA_DIR's files by default); lines for other
//! nodes go through the [`Broker`], logins are claimed from the [`PresenceManager`]
//! (`delivery`: both do nothing on a single server).
//!
//! Locks and their order (take them in this order, never the reverse):
//! `writes` (one user's stripe, never two at once) → `userlog` → the store's log locks (`broadcasts`, `rooms`) → `core`. `core`
//! is never held across file I/O, an fsync, a sleep or a socket write: sending to a user
//! only queues into that user's outbox. The store's other locks are leaves: none is
//! taken while `core` is held, and `core` is not taken while they are (but for the
//! log's `deliver`).

use super::blocks::Blocks;
use super::config::Config;
use super::delivery::{Audience, Broker, FanOut, LocalBroker, LocalPresence, PresenceManager};
use super::outbox::{Conn, Out};
pub use super::reply::Reply;
use super::roster::Roster;
use super::store::accounts;
use super::store::{FileStore, Store};
use super::syncer::Syncer;
use crate::protocol::Event;
use parking_lot::Mutex;
use std::collections::HashSet;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Identifies one connection for its whole life.
pub type ConnId = u64;

/// The shared state; clones share it.
#[derive(Clone)]
pub struct State(pub(super) Arc<Shared>);

pub(super) struct Shared {
    pub config: Config,
    pub core: Mutex<Core>,
    /// Per user, what checks and then saves: a direct message to them against the
    /// delivery of their backlog, their blocks against messages to them.
    pub writes: super::user_locks::UserLocks,
    /// Generation of the userlog.txt last written.
    pub userlog: Mutex<u64>,
    /// Failed logins per source address; a leaf lock (nothing is taken while it is held).
    pub login_throttle: Mutex<super::throttle::LoginThrottle>,
    pub store: Arc<dyn Store>,
    pub broker: Arc<dyn Broker>,
    pub presence: Arc<dyn PresenceManager>,
    /// Fsyncs the message logs before senders are told their message is saved.
    pub syncer: Syncer,
    pub shutting_down: AtomicBool,
    pub next_conn: AtomicU64,
    /// This server's place in a cluster (`--cluster`), else `None`.
    pub node: Option<Arc<super::node::Node>>,
}

/// What a server runs on: its store, its broker and presence manager, and its place in
/// a cluster (`None` for a single server).
pub struct Backends {
    pub store: Arc<dyn Store>,
    pub broker: Arc<dyn Broker>,
    pub presence: Arc<dyn PresenceManager>,
    pub node: Option<Arc<super::node::Node>>,
}

/// Everything behind the `core` lock: who is connected (the roster's), who blocked whom,
/// and the private-chat requests awaiting an answer.
#[derive(Default)]
pub(super) struct Core {
    pub roster: Roster,
    /// Who has blocked whom (saved in the store first).
    pub blocks: Blocks,
    /// (asker, asked) private-chat requests awaiting an answer.
    pub pending_private: HashSet<(String, String)>,
    /// Users whose offline messages are being delivered, and the connection they were
    /// asked for again on meanwhile (`State::deliver_offline`).
    pub draining: std::collections::HashMap<String, Option<ConnId>>,
}

impl Core {
    pub fn conn_of(&self, user: &str) -> Option<&Conn> {
        self.roster.conn_of(user)
    }

    /// Queues an event for an online user, block rule aside (answers, requests the
    /// caller checked); false if they are not online.
    pub fn send_event(&self, user: &str, ev: &Event) -> bool {
        self.conn_of(user).is_some_and(|c| c.send_msg(ev))
    }

    /// Tells every online user who is not estranged from `about` (and is not `about`).
    pub fn presence(&self, about: &str, text: &str) -> FanOut {
        let ev = Event::text(text);
        self.fan_out(Audience::Presence { about }, &ev)
    }

    /// Takes `user` offline: ends the stint, tells the others. Returns false if `user`
    /// was not online on `conn`.
    pub fn go_offline(&mut self, user: &str, conn: ConnId, now: Instant) -> bool {
        if !self.roster.log_out(user, conn, now) {
            return false;
        }
        self.withdraw_requests(user);
        self.presence(user, &crate::text::logged_out(user));
        true
    }

    /// `user` left (here, or on another node): the private-chat requests they made are
    /// withdrawn from those asked on this node, and the ones made to them forgotten.
    pub fn withdraw_requests(&mut self, user: &str) {
        for (_, asked) in self.pending_private.iter().filter(|(a, _)| a == user) {
            let from = user.to_string();
            self.send_event(asked, &Event::PrivateWithdrawn { from });
        }
        self.pending_private.retain(|(a, b)| a != user && b != user);
    }
}

impl State {
    /// Builds the state from the files in the data directory.
    pub fn open(config: Config) -> Result<State, String> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
        let credentials = accounts::load(&config.credentials)?;
        if let Some(cluster) = &config.cluster {
            let backends = super::node::Node::backends(cluster, &config, &credentials)?;
            return State::with_backends(config, backends);
        }
        let store = FileStore::open(
            &config.data_dir,
            &config.credentials,
            credentials,
            config.max_upload,
        )?;
        let backends = Backends {
            store: Arc::new(store),
            broker: Arc::new(LocalBroker),
            presence: Arc::new(LocalPresence),
            node: None,
        };
        State::with_backends(config, backends)
    }

    /// Builds the state on the given backends (a cluster node passes its Redis ones).
    pub fn with_backends(config: Config, backends: Backends) -> Result<State, String> {
        let Backends {
            store,
            broker,
            presence,
            node,
        } = backends;
        let pairs = store
            .blocks()
            .load_blocks()
            .map_err(|e| format!("cannot load the block lists: {e}"))?;
        let core = Core {
            roster: Roster::with_notice_linger(config.notice_linger),
            blocks: Blocks::from_pairs(pairs),
            ..Core::default()
        };
        let login_throttle = super::throttle::LoginThrottle::new(config.login_throttle);
        let state = State(Arc::new(Shared {
            config,
            core: Mutex::new(core),
            writes: Default::default(),
            userlog: Mutex::new(0),
            login_throttle: Mutex::new(login_throttle),
            store,
            broker,
            presence,
            syncer: Syncer::start().map_err(|e| format!("cannot start the syncer thread: {e}"))?,
            shutting_down: AtomicBool::new(false),
            next_conn: AtomicU64::new(1),
            node,
        }));
        state
            .write_userlog("")
            .map_err(|e| format!("cannot write userlog.txt: {e}"))?;
        Ok(state)
    }

    /// A quiet server state on `dir` with default settings, for unit tests.
    #[cfg(test)]
    pub(crate) fn open_quiet(dir: &std::path::Path) -> State {
        State::open(Config {
            data_dir: dir.to_path_buf(),
            credentials: dir.join("credentials.txt"),
            quiet: true,
            ..Config::default()
        })
        .expect("a fresh data directory opens")
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// Prints one line about what happened, unless `--quiet`. A closed stdout (the
    /// terminal went away) never stops the server.
    pub fn announce(&self, line: &str) {
        if !self.0.config.quiet {
            use std::io::Write;
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }

    /// Registers a new connection, or refuses it when the server is full or closing.
    pub fn connect(&self, sock: Arc<TcpStream>) -> Option<(ConnId, Conn)> {
        if self.is_shutting_down() {
            return None;
        }
        let ip = sock.peer_addr().ok()?.ip();
        let max = self.0.config.max_clients;
        let mut core = self.0.core.lock();
        if !core.roster.make_room(ip, max) {
            return None;
        }
        let id = self.0.next_conn.fetch_add(1, Ordering::Relaxed);
        let conn = Conn::new(sock);
        core.roster.connect(id, conn.clone(), ip, Instant::now());
        Some((id, conn))
    }

    /// Forgets a closed connection, logging its user out if still logged in there.
    pub fn disconnect(&self, id: ConnId, user: Option<&str>) {
        let went_offline = {
            let mut core = self.0.core.lock();
            core.roster.disconnect(id);
            user.is_some_and(|u| core.go_offline(u, id, Instant::now()))
        };
        if let (true, Some(u)) = (went_offline, user) {
            self.0.presence.release(u, Instant::now());
            self.announce(&crate::text::logged_out(u));
            self.sync_userlog();
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.0.shutting_down.load(Ordering::SeqCst)
    }

    /// Number of open connections.
    pub fn connections(&self) -> usize {
        self.0.core.lock().roster.conn_count()
    }

    /// Tells every connection the server is closing and closes them. Idempotent.
    pub fn shutdown(&self) {
        if self.0.shutting_down.swap(true, Ordering::SeqCst) {
            return;
        }
        let bye = Event::Bye {
            text: crate::text::SHUTTING_DOWN.to_string(),
            code: 0,
        };
        self.deliver(Audience::Everybody, &bye);
    }

    /// Queues `ev` for `to` on this node (`Core::fan_out`) and hands it to the other
    /// nodes, outside the `core` lock.
    pub fn deliver(&self, to: Audience<'_>, ev: &Event) -> FanOut {
        let done = self.deliver_here(to, ev);
        if let Err(e) = self.0.broker.publish(&to, ev) {
            log::error!("cannot publish to the other nodes: {e}");
        }
        done
    }

    /// Queues `ev` for `to` on this node only: what a broker's subscriber calls with a
    /// line another node published.
    pub fn deliver_here(&self, to: Audience<'_>, ev: &Event) -> FanOut {
        self.0.core.lock().fan_out(to, ev)
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.0.store
    }

    /// Rewrites userlog.txt if the active users changed since it was last written. Many
    /// threads may call this at once (a login storm): each needs only a snapshot at least
    /// as new as the change it made, so whoever holds the lock writes the newest one and
    /// those that queued behind it find their change already written (one rendering of
    /// N users per wave of logins, not per login).
    pub fn sync_userlog(&self) {
        let needed = self.0.core.lock().roster.userlog_gen();
        let mut written = self.0.userlog.lock();
        if *written >= needed {
            return;
        }
        let (gen, text) = {
            let core = self.0.core.lock();
            (core.roster.userlog_gen(), core.roster.render_userlog())
        };
        match self.write_userlog(&text) {
            Ok(()) => *written = gen,
            Err(e) => log::error!("cannot write userlog.txt: {e}"),
        }
    }

    /// Writes userlog.txt: `text`, this server's users; a cluster node writes every
    /// node's users from Redis instead (`cluster::userlog`).
    pub(super) fn write_userlog(&self, text: &str) -> std::io::Result<()> {
        let dir = &self.0.config.data_dir;
        if let Some(node) = &self.0.node {
            return crate::cluster::userlog::write(&node.store, dir);
        }
        let tmp = dir.join(".userlog.txt.tmp");
        std::io::Write::write_all(
            &mut super::store::files::create_fresh(&tmp)?,
            text.as_bytes(),
        )?;
        super::store::files::replace(&tmp, &dir.join("userlog.txt"))
    }

    /// The timer's tick: lifts expired lockouts and logs out idle users.
    pub fn expire(&self, now: Instant) {
        let timed_out = {
            self.0.store.accounts().lift_lockouts(now);
            let mut core = self.0.core.lock();
            core.roster
                .expire_prelogin(now, self.0.config.login_limit());
            self.expire_idle(&mut core, now)
        };
        for user in &timed_out {
            self.0.presence.release(user, now);
            self.announce(&crate::text::timed_out(user));
            self.announce(&crate::text::logged_out(user));
        }
        if !timed_out.is_empty() {
            self.sync_userlog();
        }
    }

    fn expire_idle(&self, core: &mut Core, now: Instant) -> Vec<String> {
        let Some(limit) = self.0.config.timeout else {
            return Vec::new();
        };
        // With a minute or more, a warning half a minute before (a reply being typed).
        let warn = crate::text::IDLE_WARNING_BEFORE;
        if limit >= 2 * warn {
            let line = Event::text(crate::text::IDLE_WARNING);
            for conn in core.roster.warn_idle(now, limit - warn) {
                core.roster.conn(conn).map(|c| c.send_msg(&line));
            }
        }
        let idle = core.roster.idle(now, limit);
        let bye = Event::Bye {
            text: crate::text::INACTIVITY.to_string(),
            code: 0,
        };
        for (user, conn) in &idle {
            if let Some(c) = core.roster.conn(*conn) {
                c.send_msg(&bye);
                c.send(Out::Close);
            }
            core.go_offline(user, *conn, now);
        }
        idle.into_iter().map(|(u, _)| u).collect()
    }

    /// A valid command from `user`: restarts the idle clock.
    /// Returns false if `user` is no longer online on `conn` (the timer logged them out
    /// while this command was on its way): the command must not run then.
    pub fn touch(&self, user: &str, conn: ConnId) -> bool {
        self.0.core.lock().roster.touch(user, conn, Instant::now())
    }

    /// The handle of connection `id`, if it is still open.
    pub(super) fn conn_handle(&self, id: ConnId) -> Option<Conn> {
        self.0.core.lock().roster.conn(id).cloned()
    }
}
