//! The presence feed: a server's presence notices, each encoded once and appended to one
//! shared log that every logged-in client's outbox reads from a cursor of its own.
//!
//! Why: a login storm of N users makes N² notices. Queued one by one into every outbox,
//! under the `core` lock, they kept every other login waiting on that lock while its
//! holder touched 5,000 queues, so the storm ran on one core. Publishing is now one
//! append under the lock ([`Feed::publish`]); each recipient's copy is taken later,
//! outside it, by whoever writes that client's outbox, and nothing is allocated per
//! recipient but the queue slot the line is written from.
//!
//! - **Order.** Before a line goes into a queue, the notices published before it are
//!   pulled in front of it ([`Conn::pull`]), so a client reads notices and other lines in
//!   the order they were made (under the `core` lock, which publishing also holds).
//! - **Who.** A client reads the notices published between its login and its logout (or
//!   its connection's close), less those about its own connection and those whose
//!   subject was estranged from it (the block rule, taken when the notice is published).
//! - **When.** The flusher writes every subscriber's notices in one pass, at most once per
//!   [`NOTICE_LINGER`] (the first at once; `Config::notice_linger`), so a storm costs each client a few writes a
//!   second; any other write to a client takes its notices along.
//! - **Bound.** The log keeps what some subscriber has not read, and never more than
//!   [`MAX_FEED`] bytes: a client whose cursor falls behind its start has missed notices
//!   and is disconnected, as one whose queue passes `MAX_QUEUED` is.
//!
//! Locks: `core` → a connection's queue → the feed's log, never the reverse; the
//! subscriber list is taken with neither of the last two held.

use super::{Conn, Queue, ITEM_COST, MAX_QUEUED, NOTICE_LINGER};
use crate::server::state::ConnId;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes of notices the log keeps at most (each with [`ITEM_COST`]).
pub const MAX_FEED: usize = MAX_QUEUED;

/// One presence notice.
pub struct Notice {
    line: Arc<[u8]>,
    /// The connection it is about, which is not told.
    about: Option<ConnId>,
    /// Users estranged from its subject when it was published, who are not told.
    except: Box<[String]>,
    /// When it happened (Unix ms), for a notice from another node: users who logged in
    /// here after that did not see it happen and are not told (a notice may cross the
    /// bus after a login it came before).
    made_ms: Option<i64>,
}

impl Notice {
    pub fn new(line: Arc<[u8]>, about: Option<ConnId>, except: Box<[String]>) -> Notice {
        Notice {
            line,
            about,
            except,
            made_ms: None,
        }
    }

    /// The notice of something that happened at `ms` (Unix ms) on another node.
    pub fn made_at(self, ms: Option<i64>) -> Notice {
        Notice {
            made_ms: ms,
            ..self
        }
    }

    fn is_for(&self, cur: &Cursor) -> bool {
        self.about != Some(cur.me)
            && !self.except.iter().any(|u| **u == *cur.user)
            && self.made_ms.is_none_or(|made| cur.since_ms <= made)
    }
}

/// Where one subscriber reads: the next notice's number, and the first it must not get.
pub struct Cursor {
    pub next: u64,
    pub until: u64,
    me: ConnId,
    user: Box<str>,
    /// When its user logged in (Unix ms).
    since_ms: i64,
}

impl Cursor {
    /// A cursor for `user` on connection `me`, reading from notice `next` on.
    pub fn new(next: u64, me: ConnId, user: &str) -> Cursor {
        Cursor {
            next,
            until: u64::MAX,
            me,
            user: user.into(),
            since_ms: i64::MIN,
        }
    }

    /// The same, for a user who logged in at `ms` (Unix ms).
    pub fn logged_in_at(self, ms: i64) -> Cursor {
        Cursor {
            since_ms: ms,
            ..self
        }
    }
}

/// The notices dropped before a cursor read them ([`MAX_FEED`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Lagged;

/// The notices and when they are written: no sockets, no clock of its own.
pub struct Log {
    entries: VecDeque<Notice>,
    /// The number of `entries.front()`.
    base: u64,
    bytes: usize,
    /// When the pass arranged with the flusher runs, if one is.
    due: Option<Instant>,
    last_pass: Option<Instant>,
    /// At least this long between passes ([`NOTICE_LINGER`] unless configured).
    linger: Duration,
}

impl Default for Log {
    fn default() -> Log {
        Log::with_linger(NOTICE_LINGER)
    }
}

impl Log {
    /// A log whose passes are at least `linger` apart.
    pub fn with_linger(linger: Duration) -> Log {
        Log {
            entries: VecDeque::new(),
            base: 0,
            bytes: 0,
            due: None,
            last_pass: None,
            linger,
        }
    }

    /// The number the next notice gets.
    pub fn head(&self) -> u64 {
        self.base + self.entries.len() as u64
    }

    /// Appends a notice published at `now`, dropping the oldest past [`MAX_FEED`].
    /// Returns when a pass must write it, unless one is arranged already.
    pub fn publish(&mut self, notice: Notice, now: Instant) -> Option<Instant> {
        self.bytes += notice.line.len() + ITEM_COST;
        self.entries.push_back(notice);
        while self.bytes > MAX_FEED {
            self.drop_front();
        }
        if self.due.is_some() {
            return None;
        }
        let due = self.last_pass.map_or(now, |t| now.max(t + self.linger));
        self.due = Some(due);
        Some(due)
    }

    /// A pass starts at `now`: what is published from now on needs another.
    pub fn pass_started(&mut self, now: Instant) {
        self.due = None;
        self.last_pass = Some(now);
    }

    /// Hands `take` the lines of `cur`'s notices below `upto`, at most `max` of them,
    /// moving the cursor past what it read; `take` returning false stops it there.
    pub fn read(
        &self,
        cur: &mut Cursor,
        upto: u64,
        max: usize,
        mut take: impl FnMut(&Arc<[u8]>) -> bool,
    ) -> Result<(), Lagged> {
        if cur.next < self.base {
            return Err(Lagged);
        }
        let upto = upto.min(cur.until).min(self.head());
        let mut given = 0;
        while cur.next < upto && given < max {
            let notice = &self.entries[(cur.next - self.base) as usize];
            if notice.is_for(cur) {
                if !take(&notice.line) {
                    return Ok(());
                }
                given += 1;
            }
            cur.next += 1;
        }
        Ok(())
    }

    /// Forgets the notices below `min` (every subscriber has read them).
    pub fn trim(&mut self, min: u64) {
        while self.base < min && !self.entries.is_empty() {
            self.drop_front();
        }
        if self.entries.is_empty() {
            self.entries = VecDeque::new(); // a quiet server keeps no slots
        }
    }

    fn drop_front(&mut self) {
        if let Some(n) = self.entries.pop_front() {
            self.bytes -= n.line.len() + ITEM_COST;
            self.base += 1;
        }
    }
}

/// A server's feed: the log, its head for lock-free checks, and its subscribers.
#[derive(Default)]
pub struct Feed {
    log: Mutex<Log>,
    head: AtomicU64,
    subs: Mutex<HashMap<usize, Conn>>,
}

/// A connection's subscription (in its queue).
pub(super) struct Sub {
    feed: Arc<Feed>,
    cur: Cursor,
}

impl Feed {
    /// A feed whose passes are at least `linger` apart (the server's
    /// `Config::notice_linger`; tests make it short).
    pub fn with_linger(linger: Duration) -> Feed {
        Feed {
            log: Mutex::new(Log::with_linger(linger)),
            ..Feed::default()
        }
    }

    /// Publishes a notice (under the `core` lock: O(1), whoever is online).
    pub fn publish(self: &Arc<Feed>, notice: Notice, now: Instant) {
        let due = {
            let mut log = self.log.lock();
            let due = log.publish(notice, now);
            self.head.store(log.head(), Ordering::Release);
            due
        };
        if let Some(due) = due {
            super::flusher::get().linger(self.clone(), due);
        }
    }

    /// `conn`, logged in as `user` on connection `me`, gets the notices published from
    /// now on (of those made elsewhere, the ones made from now on).
    pub fn subscribe(self: &Arc<Feed>, conn: &Conn, me: ConnId, user: &str) {
        let next = self.head.load(Ordering::Acquire);
        let now_ms = chrono::Utc::now().timestamp_millis();
        let cur = Cursor::new(next, me, user).logged_in_at(now_ms);
        conn.0.q.lock().sub = Some(Sub {
            feed: self.clone(),
            cur,
        });
        self.subs.lock().insert(conn.key(), conn.clone());
    }

    /// `conn` gets no notice published from now on; those before it are queued now (the
    /// log may forget them once no subscriber needs them).
    pub fn unsubscribe(&self, conn: &Conn) {
        if self.subs.lock().remove(&conn.key()).is_some() {
            conn.stop_feed();
        }
    }

    /// Starts the flusher's pass at `now`: the subscribers to write.
    pub(super) fn pass(&self, now: Instant) -> Vec<Conn> {
        self.log.lock().pass_started(now);
        self.subs.lock().values().cloned().collect()
    }

    /// After a pass: forgets what every subscriber has read. The head is read before
    /// the subscribers, so one that subscribes after they are listed reads from the head
    /// or later and loses nothing (the pass's own list may miss a newer one).
    pub(super) fn passed(&self) {
        let head = self.head.load(Ordering::Acquire);
        let subs: Vec<Conn> = self.subs.lock().values().cloned().collect();
        let min = subs.iter().filter_map(Conn::feed_next).fold(head, u64::min);
        self.log.lock().trim(min);
    }
}

impl Queue {
    /// Notices published from now on are not for this queue (it closes, or its user
    /// logged out).
    pub(super) fn end_feed(&mut self) {
        if let Some(sub) = &mut self.sub {
            sub.cur.until = sub.cur.until.min(sub.feed.head.load(Ordering::Acquire));
        }
    }
}

impl Conn {
    /// Moves this client's notices published so far (at most `max`) into its queue,
    /// where they go before whatever is queued next. False if that disconnected it.
    pub(super) fn pull(&self, q: &mut Queue, max: usize) -> bool {
        let Some(mut sub) = q.sub.take() else {
            return true;
        };
        let upto = sub.feed.head.load(Ordering::Acquire).min(sub.cur.until);
        if sub.cur.next >= upto {
            q.sub = Some(sub);
            return true;
        }
        let mut alive = true;
        let read = sub.feed.log.lock().read(&mut sub.cur, upto, max, |line| {
            alive = self.put(q, line.clone(), false);
            alive
        });
        if read == Err(Lagged) {
            log::warn!(
                "notices missed: disconnecting {:?}",
                self.0.sock.peer_addr()
            );
            self.die(q);
            return false;
        }
        if alive {
            q.sub = Some(sub); // a death in `put` ended the subscription
        }
        alive
    }

    /// Notices wait in the feed for this client.
    pub(super) fn feed_waits(&self, q: &Queue) -> bool {
        q.sub
            .as_ref()
            .is_some_and(|s| s.cur.next < s.feed.head.load(Ordering::Acquire).min(s.cur.until))
    }

    /// Notices published from now on are not for this client; those before are queued,
    /// and the subscription ends.
    fn stop_feed(&self) {
        let mut q = self.0.q.lock();
        q.end_feed();
        if self.pull(&mut q, usize::MAX) {
            q.sub = None;
        }
        if !q.items.is_empty() || !q.behind.is_empty() {
            self.schedule(q);
        }
    }

    fn feed_next(&self) -> Option<u64> {
        self.0.q.lock().sub.as_ref().map(|s| s.cur.next)
    }
}
