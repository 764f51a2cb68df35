//! The store seam: everything that must outlast the process, behind one [`Store`] made
//! of six small traits, so the server runs on DATA_DIR's files ([`FileStore`], BEHAVIOUR
//! §4) or on Redis in a cluster (BEHAVIOUR §7, `crate::cluster`) with the same commands.
//!
//! Every method is fallible: a store may be unreachable (Redis), or a disk full (the
//! files). A [`StoreError`] becomes the sentence the command gives for a failed save
//! (`text::SAVE_FAILED` for messages, blocks and logs, `text::SIGNUP_FAILED` for a
//! sign-up), so users see the same error whichever store failed.
//!
//! What a store promises:
//! - sign-up is atomic: of two sign-ups of one name exactly one is added;
//! - lockout counting is per account, across every connection (and every node);
//! - the offline queue is peeked, then trimmed by [`OfflineStore::delivered_offline`] only
//!   once what was peeked has left the server, so a connection that fails mid-backlog
//!   loses nothing;
//! - each log's numbering is gapless, and [`LogStore::append_log`] calls its `deliver`
//!   with the numbered entry while that log's order is held, so every recipient sees one
//!   log's messages in number order;
//! - a room's member set is unique ([`RoomStore::create_room`] finds the existing one).
//!
//! What is acknowledged to a user is durable first: a store answers after the item is
//! saved, or hands back a [`SyncPoint`] the caller fsyncs before confirming (the file
//! logs, so delivery does not wait for the disk).
//!
//! The file store's parts live here too: [`accounts`] (credentials.txt, the name and
//! lockout rules), [`journal`] (blocks and the offline queue), [`history`] (a numbered
//! message log), [`rooms`] (rooms.txt and the room logs), [`forum`] (threads/ and
//! uploads/, and the cluster's `RedisForum`), all through [`files`] (whole-line appends,
//! no symbolic links).

pub mod accounts;
mod file_store;
pub mod files;
pub mod forum;
pub mod history;
pub mod journal;
pub mod rooms;

pub use file_store::FileStore;

use super::syncer::SyncPoint;
use chrono::{DateTime, Local};
use forum::{ForumError, Upload};
use history::LogEntry;
use std::fmt;
use std::fs::File;
use std::time::{Duration, Instant};

/// Why a store call failed: the caller tells the user it could not save (or read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The store could not be reached or did not answer in time (Redis).
    Unavailable(String),
    /// The store was reached but the write or read failed (a full disk, EIO).
    Failed(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable(why) => write!(f, "store unavailable: {why}"),
            StoreError::Failed(why) => write!(f, "store failed: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Failed(e.to_string())
    }
}

/// Shorthand for a store call's result.
pub type StoreResult<T> = Result<T, StoreError>;

/// What a wrong password leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// This many attempts are left before the lockout.
    TryAgain(u32),
    /// That attempt locked the account.
    NowBlocked,
    /// The account was locked already.
    Blocked,
}

/// Accounts and their lockouts.
pub trait AccountStore {
    fn account_exists(&self, name: &str) -> StoreResult<bool>;
    /// The stored password (an argon2id PHC string, or a plain one from credentials.txt).
    fn secret(&self, name: &str) -> StoreResult<Option<String>>;
    fn is_locked(&self, name: &str, now: Instant) -> StoreResult<bool>;
    /// What a login checks first: the stored password (`None`: no such account) and
    /// whether the account is locked; by default [`Self::secret`] then
    /// [`Self::is_locked`].
    fn login_record(&self, name: &str, now: Instant) -> StoreResult<(Option<String>, bool)> {
        Ok((self.secret(name)?, self.is_locked(name, now)?))
    }
    /// Adds an account; false if the name is taken.
    fn add_account(&self, name: &str, secret: &str) -> StoreResult<bool>;
    /// Counts a wrong password (`attempts` of them lock the account for `block`).
    fn login_failed(
        &self,
        name: &str,
        now: Instant,
        attempts: u32,
        block: Duration,
    ) -> StoreResult<Failure>;
    /// A right password: clears the count. False if the account got locked meanwhile.
    fn login_succeeded(&self, name: &str, now: Instant) -> StoreResult<bool>;
    /// Lifts the lockouts that ended by `now` (a store whose lockouts expire by
    /// themselves, as Redis keys with a TTL do, does nothing).
    fn lift_lockouts(&self, now: Instant);
}

/// Block lists, durable. The rule itself lives in memory (`server::blocks::Blocks`),
/// loaded from here at start-up and changed here first.
pub trait BlockStore {
    fn save_block(&self, by: &str, user: &str, on: bool) -> StoreResult<()>;
    /// Every (blocker, blocked) pair.
    fn load_blocks(&self) -> StoreResult<Vec<(String, String)>>;
}

/// A message waiting in the offline queue: its line (`hans: hi`) and when it was sent
/// (Unix seconds; `None` for one stored before times were kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub line: String,
    pub sent: Option<i64>,
}

impl Queued {
    pub fn new(line: impl Into<String>, sent: Option<i64>) -> Queued {
        Queued {
            line: line.into(),
            sent,
        }
    }
}

/// Now, in Unix seconds: when a message is queued.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Messages waiting for a user who was offline.
pub trait OfflineStore {
    /// Queues `line` for `to`, sent at `sent` (Unix seconds).
    fn queue_offline(&self, to: &str, line: &str, sent: i64) -> StoreResult<()>;
    fn has_offline(&self, to: &str) -> StoreResult<bool>;
    /// The oldest waiting messages, at most `max_lines` and (past the first) `max_bytes`
    /// of lines; they stay queued until [`delivered_offline`](Self::delivered_offline).
    fn pending_offline(
        &self,
        to: &str,
        max_lines: usize,
        max_bytes: usize,
    ) -> StoreResult<Vec<Queued>>;
    /// The oldest `n` lines have left the server.
    fn delivered_offline(&self, to: &str, n: usize) -> StoreResult<()>;
}

/// Which message log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogId {
    /// messagelog.txt: `broadcast` and `BCM`.
    Broadcast,
    /// A separate room's log.
    Room(u64),
}

/// A log append: the numbered entry, and what to fsync before confirming it (`None`
/// when the store saved it durably already).
pub struct Saved {
    pub entry: LogEntry,
    pub durable: Option<SyncPoint>,
}

/// The broadcast and room logs, each numbered from 1 without gaps.
pub trait LogStore {
    /// Numbers and appends `text` by `user` stamped `now`, calling `deliver` with the
    /// entry before the next append to this log can be numbered.
    fn append_log(
        &self,
        log: LogId,
        user: &str,
        text: &str,
        now: DateTime<Local>,
        deliver: &mut dyn FnMut(&LogEntry),
    ) -> StoreResult<Saved>;
    /// Entries strictly later than unix second `t`, in number order.
    fn log_since(&self, log: LogId, t: i64) -> StoreResult<Vec<LogEntry>>;
}

/// What [`RoomStore::create_room`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New(u64),
    /// These members have a room already.
    Exists(u64),
}

/// Separate rooms: their ids and members (issuer first).
pub trait RoomStore {
    fn create_room(&self, members: &[String]) -> StoreResult<Created>;
    fn room_members(&self, id: u64) -> StoreResult<Option<Vec<String>>>;
    /// Ids of the rooms `user` belongs to, ascending.
    fn rooms_of(&self, user: &str) -> StoreResult<Vec<u64>>;
}

/// The forum: threads, posts and upload metadata. Upload bodies are files in
/// DATA_DIR/uploads whichever store holds the threads (a cluster shares that folder).
/// A store that cannot be reached answers `ForumError::Io`.
pub trait ForumStore {
    fn create(&self, title: &str, user: &str) -> Result<(), ForumError>;
    fn post(&self, title: &str, user: &str, text: &str) -> Result<u64, ForumError>;
    fn delete(&self, title: &str, n: u64, user: &str) -> Result<(), ForumError>;
    fn edit(&self, title: &str, n: u64, user: &str, text: &str) -> Result<(), ForumError>;
    fn list(&self) -> Result<Vec<String>, ForumError>;
    fn read(&self, title: &str) -> Result<Vec<String>, ForumError>;
    fn begin_upload(
        &self,
        title: &str,
        user: &str,
        file: &str,
        size: u64,
    ) -> Result<Upload, ForumError>;
    fn open_download(&self, title: &str, file: &str) -> Result<(File, u64), ForumError>;
    fn remove(&self, title: &str, user: &str) -> Result<(), ForumError>;
    /// Empties the forum (`SHT` with `--wipe-forum-on-shutdown`).
    fn wipe(&self) -> Result<(), ForumError>;
}

/// The whole store: one object per server, shared by every session (`Arc<dyn Store>`).
/// Every [`Backend`] is one.
pub trait Store: Send + Sync {
    fn accounts(&self) -> &dyn AccountStore;
    fn blocks(&self) -> &dyn BlockStore;
    fn offline(&self) -> &dyn OfflineStore;
    fn logs(&self) -> &dyn LogStore;
    fn rooms(&self) -> &dyn RoomStore;
    fn forum(&self) -> &dyn ForumStore;
    /// What a direct message from `from` checks about `to` before it is sent.
    fn recipient(&self, to: &str, from: &str) -> StoreResult<Recipient>;
}

/// What a direct message checks about its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipient {
    pub exists: bool,
    /// Messages are waiting for them: a new one goes behind those.
    pub backlog: bool,
    /// Whether they blocked the sender, where the store keeps blocks beyond this node's
    /// rule (a cluster: a block made on another node a moment ago); `None`: this node's
    /// rule decides.
    pub blocked: Option<bool>,
}

/// A store that is its own accounts, blocks, offline queue, logs and rooms, with a forum
/// beside it (`FileStore`, `ClusterStore`).
pub trait Backend: AccountStore + BlockStore + OfflineStore + LogStore + RoomStore {
    fn forum_store(&self) -> &dyn ForumStore;
    /// [`Store::recipient`]; by default two calls, and blocks left to this node's rule.
    fn recipient(&self, to: &str, _from: &str) -> StoreResult<Recipient> {
        let exists = self.account_exists(to)?;
        let backlog = exists && self.has_offline(to)?;
        Ok(Recipient {
            exists,
            backlog,
            blocked: None,
        })
    }
}

impl<B: Backend + Send + Sync> Store for B {
    fn accounts(&self) -> &dyn AccountStore {
        self
    }
    fn blocks(&self) -> &dyn BlockStore {
        self
    }
    fn offline(&self) -> &dyn OfflineStore {
        self
    }
    fn logs(&self) -> &dyn LogStore {
        self
    }
    fn rooms(&self) -> &dyn RoomStore {
        self
    }
    fn forum(&self) -> &dyn ForumStore {
        self.forum_store()
    }
    fn recipient(&self, to: &str, from: &str) -> StoreResult<Recipient> {
        Backend::recipient(self, to, from)
    }
}
