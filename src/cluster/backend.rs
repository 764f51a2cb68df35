//! The cluster behind the server's seams (`server::store`, `server::delivery`): the
//! [`Store`] on Redis ([`ClusterStore`]), and the broker and presence manager on the
//! bus and the login leases ([`ClusterLink`]).
//!
//! Everything a store call saves is in Redis before it returns (no sync point: Redis's
//! `appendfsync always` is the fsync). A line for users on other nodes is one publish
//! whatever the audience; every node's subscriber hands it to its own fan-out, which
//! applies the block rule there (block changes are published too, so every node's
//! in-memory rule follows the store).

use super::logs::Log;
use super::presence::Where;
use super::{RedisStore, StoreError as RedisError};
use crate::server::delivery::{Audience, Broker, PresenceManager, RemoteUser};
use crate::server::node::{BusMsg, Node, Target};
use crate::server::store::history::LogEntry;
use crate::server::store::{
    AccountStore, Backend, BlockStore, Created, Failure, ForumStore, LogId, LogStore, OfflineStore,
    Queued, Recipient, RoomStore, Saved, StoreError, StoreResult,
};
use crate::server::Peer;
use chrono::{DateTime, Local, TimeZone};
use std::sync::Arc;
use std::time::{Duration, Instant};

impl From<RedisError> for StoreError {
    fn from(e: RedisError) -> Self {
        match e {
            RedisError::Unavailable(why) => StoreError::Unavailable(why),
            format @ RedisError::Format { .. } => StoreError::Failed(format.to_string()),
        }
    }
}

fn log_of(id: LogId) -> Log {
    match id {
        LogId::Broadcast => Log::Broadcast,
        LogId::Room(n) => Log::Room(n),
    }
}

/// The server's store on the cluster's Redis; the forum's upload bodies stay files in
/// the shared DATA_DIR/uploads.
pub struct ClusterStore {
    node: Arc<Node>,
    forum: crate::server::store::forum::RedisForum,
}

impl ClusterStore {
    pub fn new(node: Arc<Node>, forum: crate::server::store::forum::RedisForum) -> ClusterStore {
        ClusterStore { node, forum }
    }

    fn redis(&self) -> &RedisStore {
        &self.node.store
    }
}

impl Backend for ClusterStore {
    fn forum_store(&self) -> &dyn ForumStore {
        &self.forum
    }
    /// One round trip.
    fn recipient(&self, to: &str, from: &str) -> StoreResult<Recipient> {
        let (exists, backlog, blocked) = self.redis().recipient(to, from)?;
        Ok(Recipient {
            exists,
            backlog,
            blocked: Some(blocked),
        })
    }
}

impl AccountStore for ClusterStore {
    fn account_exists(&self, name: &str) -> StoreResult<bool> {
        Ok(self.redis().account_exists(name)?)
    }
    fn secret(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(self.redis().secret(name)?)
    }
    fn is_locked(&self, name: &str, _now: Instant) -> StoreResult<bool> {
        Ok(self.redis().is_locked(name)?)
    }
    /// One round trip.
    fn login_record(&self, name: &str, _now: Instant) -> StoreResult<(Option<String>, bool)> {
        Ok(self.redis().login_record(name)?)
    }
    fn add_account(&self, name: &str, secret: &str) -> StoreResult<bool> {
        Ok(self.redis().add_account(name, secret)?)
    }
    fn login_failed(
        &self,
        name: &str,
        _now: Instant,
        attempts: u32,
        block: Duration,
    ) -> StoreResult<Failure> {
        Ok(self.redis().login_failed(name, attempts, block)?)
    }
    fn login_succeeded(&self, name: &str, _now: Instant) -> StoreResult<bool> {
        Ok(self.redis().login_succeeded(name)?)
    }
    /// Redis expires a lockout by itself (a key with a TTL).
    fn lift_lockouts(&self, _now: Instant) {}
}

impl BlockStore for ClusterStore {
    /// Saved, then published: every node's in-memory rule follows.
    fn save_block(&self, by: &str, user: &str, on: bool) -> StoreResult<()> {
        self.redis().set_block(by, user, on)?;
        let msg = BusMsg::Block {
            by: by.to_string(),
            user: user.to_string(),
            on,
        };
        if let Err(e) = self.node.publish(&msg) {
            log::warn!("cannot tell the other nodes of a block: {e}");
        }
        Ok(())
    }
    fn load_blocks(&self) -> StoreResult<Vec<(String, String)>> {
        Ok(self.redis().all_blocks()?)
    }
}

impl OfflineStore for ClusterStore {
    fn queue_offline(&self, to: &str, line: &str, sent: i64) -> StoreResult<()> {
        Ok(self.redis().queue_offline(to, line, sent)?)
    }
    fn has_offline(&self, to: &str) -> StoreResult<bool> {
        Ok(self.redis().has_offline(to)?)
    }
    fn pending_offline(
        &self,
        to: &str,
        max_lines: usize,
        max_bytes: usize,
    ) -> StoreResult<Vec<Queued>> {
        let mut lines = self.redis().pending_offline(to, max_lines)?;
        let (mut n, mut bytes) = (0, 0);
        while n < lines.len() && (n == 0 || bytes < max_bytes) {
            bytes += lines[n].line.len();
            n += 1;
        }
        lines.truncate(n);
        Ok(lines)
    }
    fn delivered_offline(&self, to: &str, n: usize) -> StoreResult<()> {
        Ok(self.redis().delivered_offline(to, n)?)
    }
}

impl LogStore for ClusterStore {
    /// Numbered and added in one script; delivered once Redis has it.
    fn append_log(
        &self,
        log: LogId,
        user: &str,
        text: &str,
        now: DateTime<Local>,
        deliver: &mut dyn FnMut(&LogEntry),
    ) -> StoreResult<Saved> {
        if let LogId::Room(id) = log {
            if self.redis().room_members(id)?.is_none() {
                return Err(StoreError::Failed(format!("room {id} does not exist")));
            }
        }
        let ts = now.timestamp();
        let number = self.redis().append(log_of(log), ts, user, text)?;
        let entry = LogEntry {
            number,
            time: Local.timestamp_opt(ts, 0).single().unwrap_or(now),
            user: user.to_string(),
            text: text.to_string(),
        };
        deliver(&entry);
        Ok(Saved {
            entry,
            durable: None,
        })
    }
    fn log_since(&self, log: LogId, t: i64) -> StoreResult<Vec<LogEntry>> {
        Ok(self.redis().since(log_of(log), t)?)
    }
}

impl RoomStore for ClusterStore {
    fn create_room(&self, members: &[String]) -> StoreResult<Created> {
        Ok(self.redis().create_room(members)?)
    }
    fn room_members(&self, id: u64) -> StoreResult<Option<Vec<String>>> {
        Ok(self.redis().room_members(id)?)
    }
    fn rooms_of(&self, user: &str) -> StoreResult<Vec<u64>> {
        Ok(self.redis().rooms_of(user)?)
    }
}

/// The broker and the presence manager of a cluster node.
pub struct ClusterLink {
    node: Arc<Node>,
}

impl ClusterLink {
    pub fn new(node: Arc<Node>) -> ClusterLink {
        ClusterLink { node }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Broker for ClusterLink {
    /// One publish for any audience. `Everybody` (a shutdown's goodbye) stays on this
    /// node: a signal stops one node, and `SHT` tells the others by a message of its own.
    fn publish(&self, to: &Audience<'_>, ev: &crate::protocol::Event) -> StoreResult<()> {
        let Some(to) = Target::of(to) else {
            return Ok(());
        };
        let msg = BusMsg::Deliver {
            origin: self.node.name.clone(),
            to,
            event: ev.clone(),
        };
        Ok(self.node.publish(&msg)?)
    }
}

fn remote(o: super::presence::Online) -> RemoteUser {
    let since = Local
        .timestamp_millis_opt(o.since_ms)
        .single()
        .unwrap_or_else(Local::now);
    RemoteUser {
        name: o.user,
        node: o.node,
        since,
        ip: o.at.ip,
        udp_port: o.at.udp_port,
        p2p_port: o.at.p2p_port,
    }
}

impl ClusterLink {
    /// Tells the other nodes' users that `user` logged in or out at `at_ms` (only those
    /// who were logged in by then are told).
    fn announce(&self, user: &str, text: String, at_ms: i64) {
        let msg = BusMsg::Deliver {
            origin: self.node.name.clone(),
            to: Target::Presence {
                about: user.to_string(),
                made_ms: Some(at_ms),
            },
            event: crate::protocol::Event::text(text),
        };
        if let Err(e) = self.node.publish(&msg) {
            log::warn!("cannot tell the other nodes about {user}: {e}");
        }
    }
}

impl PresenceManager for ClusterLink {
    /// Claims the lease and tells the other nodes' users.
    fn claim(&self, user: &str, peer: &Peer) -> StoreResult<bool> {
        let node = &self.node;
        let at = Where {
            ip: peer.addr.ip(),
            udp_port: peer.udp_port,
            p2p_port: peer.p2p_port,
        };
        let now = now_ms();
        let claimed = node
            .store
            .claim_login(user, &node.name, (now, &at), node.lease)?;
        if claimed {
            self.announce(user, crate::text::logged_in(user), now);
        }
        Ok(claimed)
    }
    fn release(&self, user: &str, _now: Instant) {
        let now = now_ms();
        self.node.release(user, now);
        self.announce(user, crate::text::logged_out(user), now);
    }
    fn remote_online(&self) -> StoreResult<Vec<RemoteUser>> {
        let all = self.node.store.online()?;
        let others = all.into_iter().filter(|o| o.node != self.node.name);
        Ok(others.map(remote).collect())
    }
    fn elsewhere(&self, user: &str) -> StoreResult<Option<RemoteUser>> {
        let found = self.node.store.online_user(user)?;
        Ok(found.filter(|o| o.node != self.node.name).map(remote))
    }
    fn departed_since(&self, secs: u64) -> StoreResult<Option<Vec<String>>> {
        let from = now_ms().saturating_sub(secs.saturating_mul(1000) as i64);
        Ok(Some(self.node.store.logged_out_since(from)?))
    }
}
