//! The delivery seam: a line for users goes out through one function,
//! `Core::fan_out` (reached through `State::deliver`), which applies the block rule and encodes the line once for all its
//! recipients, and to other nodes through a [`Broker`]. Who is logged in where is a
//! [`PresenceManager`]'s. This is Centrifugo's engine split: a broker that carries
//! publications between nodes and a presence manager that knows who is online.
//!
//! A single server has [`LocalBroker`] and [`LocalPresence`]: there are no other nodes,
//! so publishing is nothing and the local roster is all of presence. In a cluster a
//! Redis broker publishes once per line (`cluster::bus`); every node's subscriber hands
//! what arrives to its own `fan_out`, so a broadcast costs O(nodes), not O(users), and
//! Redis presence leases (`cluster::presence`) refuse a second login on another node.

use super::outbox::Out;
use super::state::Core;
use super::store::StoreResult;
use crate::protocol::{encode, Event};
use std::sync::Arc;
use std::time::Instant;

/// Who a line is for. Every variant but [`Audience::Everybody`] carries the block rule.
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    /// One user on another node, `at` (the node that had them when the sender looked),
    /// if `from` reaches them. Only that node delivers it.
    User {
        from: &'a str,
        to: &'a str,
        at: &'a str,
    },
    /// Every other online user `from` reaches (a broadcast).
    Everyone { from: &'a str },
    /// The listed users `from` reaches, but `from` (room members, an invitation).
    Users { from: &'a str, users: &'a [String] },
    /// Every online user not estranged from `about`, but `about` (a presence notice:
    /// published once to a feed its recipients read, so a burst goes out in one write).
    Presence { about: &'a str },
    /// Every connection, logged in or not (shutdown).
    Everybody,
}

/// What a fan-out did on this node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanOut {
    /// Connections the line was queued for.
    pub reached: usize,
    /// Someone online was left out because they blocked the sender.
    pub blocked: bool,
}

/// Carries lines to the other nodes of a cluster, which fan them out to their users.
pub trait Broker: Send + Sync {
    /// Hands `ev` for `to` to every other node (one publish, whatever the audience).
    fn publish(&self, to: &Audience<'_>, ev: &Event) -> StoreResult<()>;
}

/// One server: no other nodes.
pub struct LocalBroker;

impl Broker for LocalBroker {
    fn publish(&self, _to: &Audience<'_>, _ev: &Event) -> StoreResult<()> {
        Ok(())
    }
}

/// A user logged in on another node, and where their client is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUser {
    pub name: String,
    pub node: String,
    pub since: chrono::DateTime<chrono::Local>,
    pub ip: std::net::IpAddr,
    pub udp_port: u16,
    pub p2p_port: u16,
}

/// Who is logged in anywhere: claims that refuse a second login, and the users of
/// other nodes for `whoelse`, `ATU`, direct messages and peer-to-peer brokering.
pub trait PresenceManager: Send + Sync {
    /// Claims `user`'s login from `peer` for this node; false if they are logged in on
    /// another.
    fn claim(&self, user: &str, peer: &super::login::Peer) -> StoreResult<bool>;
    /// `user` logged out of this node (at `now`, for `whoelsesince`).
    fn release(&self, user: &str, now: Instant);
    /// Users online on other nodes, in login order.
    fn remote_online(&self) -> StoreResult<Vec<RemoteUser>>;
    /// `user`, if logged in on another node.
    fn elsewhere(&self, user: &str) -> StoreResult<Option<RemoteUser>>;
    /// Everyone whose last logout, on any node, was in the last `secs` seconds, most
    /// recent first; `None` when this node's roster knows every departure.
    fn departed_since(&self, secs: u64) -> StoreResult<Option<Vec<String>>>;
}

/// One server: the roster is all of presence, and it refuses duplicates itself.
pub struct LocalPresence;

impl PresenceManager for LocalPresence {
    fn claim(&self, _user: &str, _peer: &super::login::Peer) -> StoreResult<bool> {
        Ok(true)
    }
    fn release(&self, _user: &str, _now: Instant) {}
    fn remote_online(&self) -> StoreResult<Vec<RemoteUser>> {
        Ok(Vec::new())
    }
    fn elsewhere(&self, _user: &str) -> StoreResult<Option<RemoteUser>> {
        Ok(None)
    }
    fn departed_since(&self, _secs: u64) -> StoreResult<Option<Vec<String>>> {
        Ok(None)
    }
}

impl Core {
    /// Queues `ev`, encoded once, for this node's connections in `to`, applying the block
    /// rule. The only place lines for more than one connection are queued.
    pub fn fan_out(&self, to: Audience<'_>, ev: &Event) -> FanOut {
        let line: Arc<[u8]> = encode(ev).into();
        let mut done = FanOut::default();
        let mut send = |conn: &super::outbox::Conn| {
            conn.send(Out::Line(line.clone()));
            done.reached += 1;
        };
        match to {
            Audience::User { from, to, .. } => {
                if self.blocks.reaches(from, to) {
                    self.conn_of(to).into_iter().for_each(&mut send);
                }
            }
            Audience::Everyone { from } => {
                for (user, o) in self.roster.users() {
                    if user == from {
                        continue;
                    }
                    if !self.blocks.reaches(from, user) {
                        done.blocked = true;
                    } else if let Some(c) = self.roster.conn(o.conn) {
                        send(c);
                    }
                }
            }
            Audience::Users { from, users } => {
                let reached = users
                    .iter()
                    .filter(|u| *u != from && self.blocks.reaches(from, u));
                reached.filter_map(|u| self.conn_of(u)).for_each(&mut send);
            }
            Audience::Presence { about } => return self.presence_fan_out(about, line, None),
            Audience::Everybody => {
                for conn in self.roster.conns() {
                    send(conn);
                    conn.send(Out::Close);
                }
            }
        }
        done
    }

    /// A presence notice from another node about what happened there at `made_ms`
    /// (Unix ms): as [`Audience::Presence`], less the users who logged in here after it.
    pub fn presence_made_at(&self, about: &str, ev: &Event, made_ms: i64) -> FanOut {
        self.presence_fan_out(about, encode(ev).into(), Some(made_ms))
    }

    /// A presence notice: published once to the roster's feed, which every online
    /// user's outbox reads (see `outbox::Feed`); the block rule is taken now.
    fn presence_fan_out(&self, about: &str, line: Arc<[u8]>, made_ms: Option<i64>) -> FanOut {
        // In a login storm this runs for every login: skip the look-ups when nobody has
        // blocked anyone.
        let except = match self.blocks.is_empty() {
            true => Box::default(),
            false => self.blocks.estranged_from(about),
        };
        FanOut {
            reached: self
                .roster
                .publish(line, about, except, Instant::now(), made_ms),
            blocked: false,
        }
    }
}
