//! Who is connected on this node: every open connection, the users logged in on them
//! with their login stints, when each user last left (`whoelsesince`), the connections
//! that have not logged in yet, and the generation of the active-user list that
//! userlog.txt must catch up with, and the presence feed the logged-in users read. [`Roster`] is the only code that changes these, so
//! the invariants hold in one place: a user is online on at most one connection, which
//! is open; a login clears the user's last departure; every change to who is online
//! bumps the generation.
//!
//! It lives inside the server's `core` lock (`State`), next to the block lists.

use super::login::Peer;
use super::outbox::{Conn, Feed, Notice, Out};
use super::prelogin::PreLogin;
use super::since::Departures;
use super::state::ConnId;
use crate::protocol::Event;
use chrono::{DateTime, Local};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A logged-in user.
pub struct Online {
    pub conn: ConnId,
    pub ip: IpAddr,
    pub udp_port: u16,
    pub p2p_port: u16,
    pub since: DateTime<Local>,
    /// Login order, for userlog.txt numbering and listings.
    pub seq: u64,
    last_active: Instant,
    /// Told that the idle logout is near, since `last_active`.
    warned: bool,
    /// This user's userlog.txt line after its number, formatted once at login (a login
    /// storm rewrites userlog.txt thousands of times).
    userlog_entry: String,
}

/// Connections and logged-in users of this node.
#[derive(Default)]
pub struct Roster {
    conns: HashMap<ConnId, Conn>,
    online: HashMap<String, Online>,
    departures: Departures,
    prelogin: PreLogin,
    userlog_gen: u64,
    login_seq: u64,
    /// Presence notices, read by every logged-in user's outbox from their login on.
    feed: Arc<Feed>,
}

impl Roster {
    /// An empty roster whose presence notices are written at most once per `linger`.
    pub fn with_notice_linger(linger: std::time::Duration) -> Roster {
        Roster {
            feed: Arc::new(Feed::with_linger(linger)),
            ..Roster::default()
        }
    }

    /// A new connection from `ip`, not logged in yet.
    pub fn connect(&mut self, id: ConnId, conn: Conn, ip: IpAddr, now: Instant) {
        self.conns.insert(id, conn);
        self.prelogin.add(id, ip, now);
    }

    /// A connection closed (its user, if any, goes offline through [`Roster::log_out`]).
    pub fn disconnect(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.remove(&id) {
            self.feed.unsubscribe(&conn);
        }
        self.prelogin.remove(id);
    }

    /// `user` logged in on `conn` at `now`, from `peer`.
    pub fn log_in(&mut self, user: &str, conn: ConnId, peer: &Peer, now: Instant) {
        self.login_seq += 1;
        self.prelogin.remove(conn);
        let since = Local::now();
        let time = crate::timefmt::format(&since);
        let userlog_entry = format!("{time}; {user}; {}; {}", peer.addr.ip(), peer.udp_port);
        let online = Online {
            conn,
            ip: peer.addr.ip(),
            udp_port: peer.udp_port,
            p2p_port: peer.p2p_port,
            since,
            seq: self.login_seq,
            last_active: now,
            warned: false,
            userlog_entry,
        };
        self.online.insert(user.to_string(), online);
        if let Some(c) = self.conns.get(&conn) {
            self.feed.subscribe(c, conn, user);
        }
        self.departures.arrived(user);
        self.userlog_gen += 1;
    }

    /// Ends `user`'s stint on `conn` at `now`; false if they were not online there.
    pub fn log_out(&mut self, user: &str, conn: ConnId, now: Instant) -> bool {
        if self.online.get(user).is_none_or(|o| o.conn != conn) {
            return false;
        }
        self.online.remove(user);
        if let Some(c) = self.conns.get(&conn) {
            self.feed.unsubscribe(c);
        }
        self.departures.left(user, now);
        self.userlog_gen += 1;
        true
    }

    /// `user`, logged in on another node, left at `now` (for `whoelsesince`); false if
    /// they are online here (logged in here meanwhile), which changes nothing.
    pub fn left_elsewhere(&mut self, user: &str, now: Instant) -> bool {
        if self.online.contains_key(user) {
            return false;
        }
        self.departures.left(user, now);
        true
    }

    /// A valid command from `user` on `conn` at `now` restarts their idle clock; false
    /// if they are no longer online there.
    pub fn touch(&mut self, user: &str, conn: ConnId, now: Instant) -> bool {
        match self.online.get_mut(user) {
            Some(o) if o.conn == conn => {
                o.last_active = now;
                o.warned = false;
                true
            }
            _ => false,
        }
    }

    /// Users idle for `limit` or longer at `now`, with their connections.
    pub fn idle(&self, now: Instant, limit: Duration) -> Vec<(String, ConnId)> {
        self.online
            .iter()
            .filter(|(_, o)| now.saturating_duration_since(o.last_active) >= limit)
            .map(|(u, o)| (u.clone(), o.conn))
            .collect()
    }

    /// Connections of users idle for `after` or longer at `now` who have not been warned
    /// since their last command; they count as warned from now on.
    pub fn warn_idle(&mut self, now: Instant, after: Duration) -> Vec<ConnId> {
        self.online
            .values_mut()
            .filter(|o| !o.warned && now.saturating_duration_since(o.last_active) >= after)
            .map(|o| {
                o.warned = true;
                o.conn
            })
            .collect()
    }

    pub fn conn(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(&id)
    }

    pub fn conns(&self) -> impl Iterator<Item = &Conn> {
        self.conns.values()
    }

    /// Number of open connections.
    pub fn conn_count(&self) -> usize {
        self.conns.len()
    }

    pub fn online(&self, user: &str) -> Option<&Online> {
        self.online.get(user)
    }

    pub fn is_online(&self, user: &str) -> bool {
        self.online.contains_key(user)
    }

    /// Is `user` online on `conn`?
    pub fn online_on(&self, user: &str, conn: ConnId) -> bool {
        self.online.get(user).is_some_and(|o| o.conn == conn)
    }

    /// Tells every logged-in user but `about`'s connection and the users in `except`,
    /// through the feed (their outboxes take it from there); returns how many. With
    /// `made_ms` (a notice from another node), users who logged in after it are left out.
    pub fn publish(
        &self,
        line: Arc<[u8]>,
        about: &str,
        except: Box<[String]>,
        now: Instant,
        made_ms: Option<i64>,
    ) -> usize {
        let own = self.online(about).map(|o| o.conn);
        let left_out = except.iter().filter(|u| self.is_online(u)).count();
        let reached = self.online.len() - usize::from(own.is_some()) - left_out;
        let notice = Notice::new(line, own, except).made_at(made_ms);
        self.feed.publish(notice, now);
        reached
    }

    /// Every logged-in user, in no order.
    pub fn users(&self) -> impl Iterator<Item = (&String, &Online)> {
        self.online.iter()
    }

    /// The connection `user` is logged in on.
    pub fn conn_of(&self, user: &str) -> Option<&Conn> {
        self.online.get(user).and_then(|o| self.conns.get(&o.conn))
    }

    /// Users who logged out at `cutoff` or later (all for `None`), most recent first.
    pub fn departed_since(&self, cutoff: Option<Instant>) -> impl Iterator<Item = &String> {
        self.departures.since(cutoff)
    }

    /// Bumped whenever the set of active users changes.
    pub fn userlog_gen(&self) -> u64 {
        self.userlog_gen
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

    /// Most pre-login connections one address may hold: half of `max_clients` (at least
    /// one).
    pub fn prelogin_share(max_clients: usize) -> usize {
        (max_clients / 2).max(1)
    }

    /// Room for a new connection from `ip`: false if the server is full. An address at
    /// its share gives up its oldest pre-login connection (which is told and closed).
    pub fn make_room(&mut self, ip: IpAddr, max_clients: usize) -> bool {
        if self.prelogin.from(ip) < Roster::prelogin_share(max_clients) {
            return self.conns.len() < max_clients;
        }
        // A replaced connection still counts until its session ends, so the server may
        // be over its limit for a moment: by an eighth at most, then it refuses.
        let Some(old) = self.prelogin.oldest(ip) else {
            return false;
        };
        if self.conns.len() >= max_clients + max_clients / 8 {
            return false;
        }
        self.prelogin.remove(old);
        self.close_with(&[old], crate::text::TOO_MANY_FROM_ADDRESS);
        true
    }

    /// Closes the connections that did not log in within `limit`; returns how many.
    pub fn expire_prelogin(&mut self, now: Instant, limit: Duration) -> usize {
        let old = self.prelogin.expired(now, limit);
        self.close_with(&old, crate::text::LOGIN_TIMED_OUT);
        old.len()
    }

    fn close_with(&self, ids: &[ConnId], why: &str) {
        let bye = Event::Bye {
            text: why.to_string(),
            code: 1,
        };
        for id in ids {
            if let Some(c) = self.conns.get(id) {
                c.send_msg(&bye);
                c.send(Out::Close);
            }
        }
    }
}
