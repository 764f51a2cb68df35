//! The default store: DATA_DIR's files (BEHAVIOUR §4). Accounts come from
//! credentials.txt (sign-ups append), blocks and the offline queue from the journal,
//! broadcasts from messagelog.txt, rooms from rooms.txt and their logs, the forum from
//! threads/ and uploads/. What is read often is kept in memory; every change is on disk
//! (fsynced, or handed back as a sync point) before it is acknowledged.
//!
//! Locks, each a leaf except as listed: `credentials` → `accounts` (a sign-up checks the
//! name, appends, then adds it); `journal` → `offline`; `broadcasts` and `rooms` are
//! held while a log append's `deliver` runs, which takes the server's `core` lock.

use super::accounts::{self, Account};
use super::forum::Forum;
use super::history::{LogEntry, MessageLog};
use super::journal::{Journal, Record};
use super::rooms::Rooms;
use super::{
    AccountStore, Backend, BlockStore, Created, Failure, ForumStore, LogId, LogStore, OfflineStore,
    Queued, RoomStore, Saved, StoreError, StoreResult,
};
use chrono::{DateTime, Local};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Accounts in memory, with the ones under a lockout, so lifting them does not walk
/// every account.
#[derive(Default)]
struct Book {
    accounts: HashMap<String, Account>,
    locked: HashSet<String>,
}

/// DATA_DIR's files as a [`Store`].
pub struct FileStore {
    credentials_path: PathBuf,
    /// Serialises appends to credentials.txt.
    credentials: Mutex<()>,
    accounts: Mutex<Book>,
    journal: Mutex<Journal>,
    /// recipient -> undelivered lines, oldest first
    offline: Mutex<HashMap<String, Vec<Queued>>>,
    blocks: Vec<(String, String)>,
    broadcasts: Mutex<MessageLog>,
    rooms: Mutex<Rooms>,
    forum: Forum,
}

impl FileStore {
    /// Opens every file of `dir`, with the accounts already read from `credentials`.
    pub fn open(
        dir: &Path,
        credentials: &Path,
        accounts: Vec<(String, String)>,
        max_upload: u64,
    ) -> Result<FileStore, String> {
        let mut book = Book::default();
        for (user, pw) in accounts {
            book.accounts.insert(user, Account::new(pw));
        }
        let (journal, replayed) =
            Journal::open(dir).map_err(|e| format!("cannot open the journal: {e}"))?;
        let blocks = replayed
            .blocks
            .into_iter()
            .flat_map(|(by, users)| users.into_iter().map(move |u| (by.clone(), u)))
            .collect();
        let broadcasts = MessageLog::open(&dir.join("messagelog.txt"))
            .map_err(|e| format!("cannot open messagelog.txt: {e}"))?;
        let rooms = Rooms::open(dir).map_err(|e| format!("cannot open the rooms: {e}"))?;
        let forum =
            Forum::open(dir, max_upload).map_err(|e| format!("cannot open the forum: {e}"))?;
        Ok(FileStore {
            credentials_path: credentials.to_path_buf(),
            credentials: Mutex::new(()),
            accounts: Mutex::new(book),
            journal: Mutex::new(journal),
            offline: Mutex::new(replayed.offline),
            blocks,
            broadcasts: Mutex::new(broadcasts),
            rooms: Mutex::new(rooms),
            forum,
        })
    }

    fn journal(&self, rec: &Record) -> StoreResult<()> {
        self.journal.lock().append(rec).map_err(|e| {
            log::error!("journal append failed: {e}");
            StoreError::from(e)
        })
    }
}

impl Backend for FileStore {
    fn forum_store(&self) -> &dyn ForumStore {
        &self.forum
    }
}

impl AccountStore for FileStore {
    fn account_exists(&self, name: &str) -> StoreResult<bool> {
        Ok(self.accounts.lock().accounts.contains_key(name))
    }

    fn secret(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(self
            .accounts
            .lock()
            .accounts
            .get(name)
            .map(|a| a.password.clone()))
    }

    fn is_locked(&self, name: &str, now: Instant) -> StoreResult<bool> {
        let book = self.accounts.lock();
        Ok(book.accounts.get(name).is_some_and(|a| a.is_locked(now)))
    }

    fn add_account(&self, name: &str, secret: &str) -> StoreResult<bool> {
        let _file = self.credentials.lock();
        if self.accounts.lock().accounts.contains_key(name) {
            return Ok(false);
        }
        accounts::append(&self.credentials_path, name, secret).map_err(|e| {
            log::error!("cannot append to the credentials file: {e}");
            StoreError::from(e)
        })?;
        let acct = Account::new(secret.to_string());
        self.accounts.lock().accounts.insert(name.to_string(), acct);
        Ok(true)
    }

    fn login_failed(
        &self,
        name: &str,
        now: Instant,
        attempts: u32,
        block: Duration,
    ) -> StoreResult<Failure> {
        let mut book = self.accounts.lock();
        let Some(acct) = book.accounts.get_mut(name) else {
            return Ok(Failure::TryAgain(attempts));
        };
        if acct.is_locked(now) {
            return Ok(Failure::Blocked);
        }
        if !acct.record_failure(now, attempts, block) {
            let left = attempts.saturating_sub(acct.failures);
            return Ok(Failure::TryAgain(left));
        }
        book.locked.insert(name.to_string());
        Ok(Failure::NowBlocked)
    }

    fn login_succeeded(&self, name: &str, now: Instant) -> StoreResult<bool> {
        let mut book = self.accounts.lock();
        match book.accounts.get_mut(name) {
            Some(acct) if !acct.is_locked(now) => {
                acct.record_success();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn lift_lockouts(&self, now: Instant) {
        let mut book = self.accounts.lock();
        let Book { accounts, locked } = &mut *book;
        locked.retain(|user| accounts.get_mut(user).is_some_and(|a| !a.expire(now)));
    }
}

impl BlockStore for FileStore {
    fn save_block(&self, by: &str, user: &str, on: bool) -> StoreResult<()> {
        let (by, user) = (by.to_string(), user.to_string());
        self.journal(&match on {
            true => Record::Block { by, user },
            false => Record::Unblock { by, user },
        })
    }

    fn load_blocks(&self) -> StoreResult<Vec<(String, String)>> {
        Ok(self.blocks.clone())
    }
}

impl OfflineStore for FileStore {
    fn queue_offline(&self, to: &str, line: &str, sent: i64) -> StoreResult<()> {
        let mut journal = self.journal.lock();
        let rec = Record::Offline {
            to: to.to_string(),
            line: line.to_string(),
            sent: Some(sent),
        };
        journal.append(&rec).map_err(|e| {
            log::error!("journal append failed: {e}");
            StoreError::from(e)
        })?;
        let mut offline = self.offline.lock();
        offline
            .entry(to.to_string())
            .or_default()
            .push(Queued::new(line, Some(sent)));
        Ok(())
    }

    fn has_offline(&self, to: &str) -> StoreResult<bool> {
        Ok(self.offline.lock().get(to).is_some_and(|q| !q.is_empty()))
    }

    fn pending_offline(
        &self,
        to: &str,
        max_lines: usize,
        max_bytes: usize,
    ) -> StoreResult<Vec<Queued>> {
        let offline = self.offline.lock();
        let Some(queue) = offline.get(to) else {
            return Ok(Vec::new());
        };
        let (mut n, mut bytes) = (0, 0);
        while n < queue.len().min(max_lines) && (n == 0 || bytes < max_bytes) {
            bytes += queue[n].line.len();
            n += 1;
        }
        Ok(queue[..n].to_vec())
    }

    fn delivered_offline(&self, to: &str, n: usize) -> StoreResult<()> {
        let mut journal = self.journal.lock();
        let rec = Record::Delivered {
            to: to.to_string(),
            count: n,
        };
        // Not fatal: the lines left already; a failed record means a repeat after a crash.
        if let Err(e) = journal.append(&rec) {
            log::error!("journal append failed: {e}");
        }
        let mut offline = self.offline.lock();
        if let Some(queue) = offline.get_mut(to) {
            queue.drain(..n.min(queue.len()));
            if queue.is_empty() {
                offline.remove(to);
            }
        }
        Ok(())
    }
}

impl LogStore for FileStore {
    fn append_log(
        &self,
        log: LogId,
        user: &str,
        text: &str,
        now: DateTime<Local>,
        deliver: &mut dyn FnMut(&LogEntry),
    ) -> StoreResult<Saved> {
        let save = |log: &mut MessageLog, deliver: &mut dyn FnMut(&LogEntry)| {
            let entry = log.append(user, text, now).map_err(|e| {
                log::error!("cannot append to a message log: {e}");
                StoreError::from(e)
            })?;
            deliver(&entry);
            let durable = log.sync_point();
            Ok(Saved { entry, durable })
        };
        match log {
            LogId::Broadcast => save(&mut self.broadcasts.lock(), deliver),
            LogId::Room(id) => {
                let mut rooms = self.rooms.lock();
                let log = rooms.log_mut(id).ok_or_else(|| no_room(id))?;
                save(log, deliver)
            }
        }
    }

    fn log_since(&self, log: LogId, t: i64) -> StoreResult<Vec<LogEntry>> {
        let read = match log {
            LogId::Broadcast => self.broadcasts.lock().since(t),
            LogId::Room(id) => {
                let rooms = self.rooms.lock();
                rooms.log(id).ok_or_else(|| no_room(id))?.since(t)
            }
        };
        read.map_err(|e| {
            log::error!("cannot read a message log: {e}");
            StoreError::from(e)
        })
    }
}

fn no_room(id: u64) -> StoreError {
    StoreError::Failed(format!("room {id} does not exist"))
}

impl RoomStore for FileStore {
    fn create_room(&self, members: &[String]) -> StoreResult<Created> {
        let mut rooms = self.rooms.lock();
        if let Some(id) = rooms.find(members) {
            return Ok(Created::Exists(id));
        }
        let id = rooms.create(members.to_vec()).map_err(|e| {
            log::error!("cannot create a room: {e}");
            StoreError::from(e)
        })?;
        Ok(Created::New(id))
    }

    fn room_members(&self, id: u64) -> StoreResult<Option<Vec<String>>> {
        Ok(self.rooms.lock().members(id).map(<[String]>::to_vec))
    }

    fn rooms_of(&self, user: &str) -> StoreResult<Vec<u64>> {
        Ok(self.rooms.lock().rooms_of(user))
    }
}
