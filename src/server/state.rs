//! The shared-state facade: one cloneable [`State`] whose methods lock, change, copy out
//! and unlock. Feature files (`login.rs`, `messaging.rs`, `toom.rs`, `board.rs`, `p2p.rs`)
//! add `impl State` blocks of their own; this file holds the data and what they share.
//!
//! Locks and their order (take them in this order, never the reverse):
//! `journal` → `userlog` → `broadcasts` → `rooms` → `core`. `core` is never held across
//! file I/O, an fsync, a sleep or a socket write: sending to a user only queues into that
//! user's outbox. The forum has its own internal lock, never taken while `core` is held.

use super::accounts::{self, Account};
use super::config::Config;
use super::forum::Forum;
use super::history::MessageLog;
use super::journal::{Journal, Record};
use super::outbox::{Conn, Out};
use super::rooms::Rooms;
use super::syncer::{SyncPoint, Syncer};
use crate::protocol::{Event, Then};
use chrono::{DateTime, Local};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, TcpStream};
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
    pub journal: Mutex<Journal>,
    /// Generation of the userlog.txt last written.
    pub userlog: Mutex<u64>,
    /// Serialises appends to the credentials file.
    pub credentials: Mutex<()>,
    /// Failed logins per source address; a leaf lock (nothing is taken while it is held).
    pub login_throttle: Mutex<super::throttle::LoginThrottle>,
    /// messagelog.txt: `broadcast` and `BCM`.
    pub broadcasts: Mutex<MessageLog>,
    pub rooms: Mutex<Rooms>,
    pub forum: Forum,
    /// Fsyncs the message logs before senders are told their message is saved.
    pub syncer: Syncer,
    pub shutting_down: AtomicBool,
    pub next_conn: AtomicU64,
    /// This server's place in a cluster (`--cluster`), else `None`.
    pub node: Option<Arc<super::node::Node>>,
}

/// Everything behind the `core` lock.
#[derive(Default)]
pub(super) struct Core {
    pub accounts: HashMap<String, Account>,
    /// Accounts with a lockout, so the timer lifts them without walking every account.
    pub locked: HashSet<String>,
    /// Every open connection, logged in or not (shutdown tells them all).
    pub conns: HashMap<ConnId, Conn>,
    pub online: HashMap<String, Online>,
    /// Each user's last logout since start-up, for `whoelsesince`.
    pub departures: super::since::Departures,
    /// blocker -> blocked users
    pub blocks: HashMap<String, HashSet<String>>,
    /// recipient -> undelivered lines, oldest first
    pub offline: HashMap<String, Vec<String>>,
    /// Bumped whenever the set of active users changes.
    pub userlog_gen: u64,
    pub login_seq: u64,
    /// (asker, asked) private-chat requests awaiting an answer.
    pub pending_private: HashSet<(String, String)>,
    /// Connections not logged in yet (see `prelogin`).
    pub prelogin: super::prelogin::PreLogin,
}

/// A logged-in user.
pub(super) struct Online {
    pub conn: ConnId,
    pub ip: IpAddr,
    pub udp_port: u16,
    pub p2p_port: u16,
    pub since: DateTime<Local>,
    /// Login order, for userlog.txt numbering.
    pub seq: u64,
    pub last_active: Instant,
    /// This user's userlog.txt line after its number, formatted once at login (a login
    /// storm rewrites userlog.txt thousands of times).
    pub userlog_entry: String,
}

impl Online {
    pub fn userlog_entry(since: &DateTime<Local>, user: &str, peer: &super::login::Peer) -> String {
        let time = crate::timefmt::format(since);
        format!("{time}; {user}; {}; {}", peer.addr.ip(), peer.udp_port)
    }
}

/// What a command handler answers: lines for the user and what the client does next.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub ok: bool,
    pub lines: Vec<String>,
    pub then: Then,
    /// Sent only once this file is fsynced (by the syncer thread, off the request path).
    pub durable: Option<SyncPoint>,
}

impl Reply {
    pub fn ok(lines: Vec<String>) -> Reply {
        Reply {
            ok: true,
            lines,
            then: Then::Continue,
            durable: None,
        }
    }
    pub fn line(s: impl Into<String>) -> Reply {
        Reply::ok(vec![s.into()])
    }
    pub fn err(s: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            lines: vec![s.into()],
            then: Then::Continue,
            durable: None,
        }
    }
    pub fn then(mut self, then: Then) -> Reply {
        self.then = then;
        self
    }
    pub fn after_sync(mut self, file: Option<SyncPoint>) -> Reply {
        self.durable = file;
        self
    }
}

impl Core {
    /// Has `by` blocked `user`?
    pub fn blocked(&self, by: &str, user: &str) -> bool {
        self.blocks.get(by).is_some_and(|s| s.contains(user))
    }

    /// Either has blocked the other: no presence notices either way.
    pub fn estranged(&self, a: &str, b: &str) -> bool {
        self.blocked(a, b) || self.blocked(b, a)
    }

    pub fn conn_of(&self, user: &str) -> Option<&Conn> {
        self.online.get(user).and_then(|o| self.conns.get(&o.conn))
    }

    /// Queues an event for an online user; false if they are not online.
    pub fn send_event(&self, user: &str, ev: &Event) -> bool {
        self.conn_of(user).is_some_and(|c| c.send_msg(ev))
    }

    pub fn send_text(&self, user: &str, text: &str) -> bool {
        self.send_event(
            user,
            &Event::Text {
                text: text.to_string(),
            },
        )
    }

    /// Sends one text line to each of `users` who is online and has not blocked `from`,
    /// encoding it once (a room message reaches hundreds of members).
    pub fn send_text_to<'a>(
        &self,
        users: impl IntoIterator<Item = &'a String>,
        from: &str,
        text: &str,
    ) {
        let line: Arc<[u8]> = crate::protocol::encode(&Event::Text {
            text: text.to_string(),
        })
        .into();
        for user in users {
            if !self.blocked(user, from) {
                if let Some(c) = self.conn_of(user) {
                    c.send(Out::Line(line.clone()));
                }
            }
        }
    }

    /// Tells every online user who is not estranged from `about` (and is not `about`).
    pub fn presence(&self, about: &str, text: &str) {
        let line: Arc<[u8]> = crate::protocol::encode(&Event::Text {
            text: text.to_string(),
        })
        .into();
        let now = Instant::now();
        // In a login storm this runs for every pair of users: skip the block lookups when
        // nobody has blocked anyone.
        let blocks = !self.blocks.is_empty();
        // `about` is told nothing about itself: compared by connection, not by name.
        let own = self.online.get(about).map(|o| o.conn);
        for (user, o) in &self.online {
            if Some(o.conn) != own && !(blocks && self.estranged(user, about)) {
                if let Some(c) = self.conns.get(&o.conn) {
                    c.notify(line.clone(), now);
                }
            }
        }
    }

    /// Takes `user` offline: ends the stint, tells the others. Returns false if `user`
    /// was not online on `conn`.
    pub fn go_offline(&mut self, user: &str, conn: ConnId, now: Instant) -> bool {
        if self.online.get(user).is_none_or(|o| o.conn != conn) {
            return false;
        }
        self.online.remove(user);
        self.departures.left(user, now);
        self.userlog_gen += 1;
        self.pending_private.retain(|(a, b)| a != user && b != user);
        self.presence(user, &crate::text::logged_out(user));
        true
    }

    /// userlog.txt as it should read now: active users in login order, numbered from 1.
    pub fn render_userlog(&self) -> String {
        use std::fmt::Write;
        let mut users: Vec<&Online> = self.online.values().collect();
        users.sort_unstable_by_key(|o| o.seq);
        let mut out = String::with_capacity(users.iter().map(|o| o.userlog_entry.len() + 8).sum());
        for (i, o) in users.iter().enumerate() {
            let _ = writeln!(out, "{}; {}", i + 1, o.userlog_entry);
        }
        out
    }
}

impl State {
    /// Builds the state from the files in the data directory.
    pub fn open(config: Config) -> Result<State, String> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
        let mut core = Core::default();
        let credentials = accounts::load(&config.credentials)?;
        let node = match &config.cluster {
            Some(c) => Some(Arc::new(super::node::Node::join(c, &credentials)?)),
            None => None,
        };
        for (user, pw) in credentials {
            core.accounts.insert(user, Account::new(pw));
        }
        let (journal, replayed) =
            Journal::open(&config.data_dir).map_err(|e| format!("cannot open the journal: {e}"))?;
        core.blocks = replayed.blocks;
        core.offline = replayed.offline;
        let dir = &config.data_dir;
        let broadcasts = MessageLog::open(&dir.join("messagelog.txt"))
            .map_err(|e| format!("cannot open messagelog.txt: {e}"))?;
        let rooms = Rooms::open(dir).map_err(|e| format!("cannot open the rooms: {e}"))?;
        let forum = Forum::open(dir, config.max_upload)
            .map_err(|e| format!("cannot open the forum: {e}"))?;
        let login_throttle = super::throttle::LoginThrottle::new(config.login_throttle);
        let state = State(Arc::new(Shared {
            config,
            core: Mutex::new(core),
            journal: Mutex::new(journal),
            userlog: Mutex::new(0),
            credentials: Mutex::new(()),
            login_throttle: Mutex::new(login_throttle),
            broadcasts: Mutex::new(broadcasts),
            rooms: Mutex::new(rooms),
            forum,
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
        if !core.make_room(ip, max) {
            return None;
        }
        let id = self.0.next_conn.fetch_add(1, Ordering::Relaxed);
        let conn = Conn::new(sock);
        core.conns.insert(id, conn.clone());
        core.prelogin.add(id, ip, Instant::now());
        Some((id, conn))
    }

    /// Forgets a closed connection, logging its user out if still logged in there.
    pub fn disconnect(&self, id: ConnId, user: Option<&str>) {
        let went_offline = {
            let mut core = self.0.core.lock();
            core.conns.remove(&id);
            core.prelogin.remove(id);
            user.is_some_and(|u| core.go_offline(u, id, Instant::now()))
        };
        if let (true, Some(u)) = (went_offline, user) {
            self.announce(&crate::text::logged_out(u));
            self.sync_userlog();
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.0.shutting_down.load(Ordering::SeqCst)
    }

    /// Number of open connections.
    pub fn connections(&self) -> usize {
        self.0.core.lock().conns.len()
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
        let core = self.0.core.lock();
        for conn in core.conns.values() {
            conn.send_msg(&bye);
            conn.send(Out::Close);
        }
    }

    /// Appends a journal record with the journal lock already held by the caller.
    pub(super) fn journal_append(journal: &mut Journal, rec: &Record) -> Result<(), String> {
        journal.append(rec).map_err(|e| {
            log::error!("journal append failed: {e}");
            crate::text::SAVE_FAILED.to_string()
        })
    }

    /// Rewrites userlog.txt if the active users changed since it was last written. Many
    /// threads may call this at once (a login storm): each needs only a snapshot at least
    /// as new as the change it made, so whoever holds the lock writes the newest one and
    /// those that queued behind it find their change already written (one rendering of
    /// N users per wave of logins, not per login).
    pub fn sync_userlog(&self) {
        let needed = self.0.core.lock().userlog_gen;
        let mut written = self.0.userlog.lock();
        if *written >= needed {
            return;
        }
        let (gen, text) = {
            let core = self.0.core.lock();
            (core.userlog_gen, core.render_userlog())
        };
        match self.write_userlog(&text) {
            Ok(()) => *written = gen,
            Err(e) => log::error!("cannot write userlog.txt: {e}"),
        }
    }

    fn write_userlog(&self, text: &str) -> std::io::Result<()> {
        let dir = &self.0.config.data_dir;
        let tmp = dir.join(".userlog.txt.tmp");
        std::io::Write::write_all(&mut super::files::create_fresh(&tmp)?, text.as_bytes())?;
        std::fs::rename(&tmp, dir.join("userlog.txt"))
    }

    /// The timer's tick: lifts expired lockouts and logs out idle users.
    pub fn expire(&self, now: Instant) {
        let timed_out = {
            let mut core = self.0.core.lock();
            let Core {
                accounts, locked, ..
            } = &mut *core;
            locked.retain(|user| accounts.get_mut(user).is_some_and(|a| !a.expire(now)));
            core.expire_prelogin(now, self.0.config.login_limit());
            self.expire_idle(&mut core, now)
        };
        for user in &timed_out {
            self.announce(&format!("{user} timed out"));
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
        let idle: Vec<(String, ConnId)> = core
            .online
            .iter()
            .filter(|(_, o)| now.duration_since(o.last_active) >= limit)
            .map(|(u, o)| (u.clone(), o.conn))
            .collect();
        let bye = Event::Bye {
            text: crate::text::INACTIVITY.to_string(),
            code: 0,
        };
        for (user, conn) in &idle {
            if let Some(c) = core.conns.get(conn) {
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
        match self.0.core.lock().online.get_mut(user) {
            Some(o) if o.conn == conn => {
                o.last_active = Instant::now();
                true
            }
            _ => false,
        }
    }

    /// The handle of connection `id`, if it is still open.
    pub(super) fn conn_handle(&self, id: ConnId) -> Option<Conn> {
        self.0.core.lock().conns.get(&id).cloned()
    }

    /// Does this account exist?
    pub fn user_exists(&self, user: &str) -> bool {
        self.0.core.lock().accounts.contains_key(user)
    }
}
