//! Separate chat rooms and their durability. A room has an integer id
//! (from 1), a fixed member list (issuer first, then the named users) and
//! its own [`MessageLog`] at `DATA_DIR/SR_<id>_messagelog.txt`. The room
//! list itself lives in `DATA_DIR/rooms.txt`, one `<id>; <m1>, <m2>, ...`
//! line per room, appended and fsynced before `create` returns, so a room
//! a user was told about exists after a crash; a torn last line is cut off
//! at load. Rooms are identified by their member *set*, so the same group
//! of people always lands in the same room. Only the [`OPEN_LOGS`] most
//! recently written room logs keep their file open (the others are opened
//! again on their next message), so open files do not grow with the number
//! of rooms. `Rooms` is not internally locked; the server keeps it behind a
//! mutex.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use log::{error, warn};

use super::files;
use super::history::{sync_parent, MessageLog};

/// Name of the room list inside the data directory.
pub const ROOMS_FILE: &str = "rooms.txt";

/// Room logs whose file stays open between messages (the most recently written).
pub const OPEN_LOGS: usize = 16;

/// Path of room `id`'s message log inside `dir`.
pub fn log_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("SR_{id}_messagelog.txt"))
}

/// One room: who is in it and what was said.
struct Room {
    members: Vec<String>,
    log: MessageLog,
}

/// All rooms of the server, loaded from and persisted to a data directory.
pub struct Rooms {
    dir: PathBuf,
    file: File,
    /// Bytes of `rooms.txt` known to be whole lines.
    end: u64,
    next_id: u64,
    rooms: BTreeMap<u64, Room>,
    /// Sorted, de-duplicated member list -> room id.
    by_set: HashMap<Vec<String>, u64>,
    /// Rooms whose log file is open, least recently written first.
    open_logs: VecDeque<u64>,
}

impl Rooms {
    /// Opens (creating if needed) the data directory `dir`, loads
    /// `rooms.txt` (dropping a torn last line) and opens every room's log.
    pub fn open(dir: &Path) -> io::Result<Rooms> {
        fs::create_dir_all(dir)?;
        let path = dir.join(ROOMS_FILE);
        let existed = path.exists();
        let mut file = files::no_follow()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        if !existed {
            sync_parent(&path);
        }
        let loaded = load(&mut file, &path)?;
        let mut rooms = Rooms {
            dir: dir.to_path_buf(),
            file,
            end: loaded.good_end,
            next_id: 1,
            rooms: BTreeMap::new(),
            by_set: HashMap::new(),
            open_logs: VecDeque::new(),
        };
        for (id, members) in loaded.rooms {
            rooms.insert(id, members)?;
        }
        Ok(rooms)
    }

    /// The room whose member set equals `members` (order and repeats
    /// ignored), if there is one.
    pub fn find(&self, members: &[String]) -> Option<u64> {
        self.by_set.get(&set_key(members)).copied()
    }

    /// Creates a room for `members` (issuer first; repeats dropped,
    /// order kept), records it durably in `rooms.txt` and creates its log.
    /// Fails with `InvalidInput` for an empty list or a name that is empty,
    /// padded, or contains `, `, `; ` or a line break, and with
    /// `AlreadyExists` if [`find`](Self::find) would have found a room.
    pub fn create(&mut self, members: Vec<String>) -> io::Result<u64> {
        let members = dedup(members);
        validate(&members)?;
        if let Some(id) = self.find(&members) {
            let msg = format!("room {id} already has these members");
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, msg));
        }
        let id = self.next_id;
        self.write_line(&format!("{id}; {}\n", members.join(", ")))?;
        self.next_id += 1;
        self.insert(id, members)?;
        Ok(id)
    }

    /// Members of room `id`, issuer first.
    pub fn members(&self, id: u64) -> Option<&[String]> {
        self.rooms.get(&id).map(|r| r.members.as_slice())
    }

    /// Room `id`'s message log, for appending: it counts as the most recently written,
    /// and the least recently written beyond [`OPEN_LOGS`] lets go of its file.
    pub fn log_mut(&mut self, id: u64) -> Option<&mut MessageLog> {
        if !self.rooms.contains_key(&id) {
            return None;
        }
        self.open_logs.retain(|&o| o != id);
        self.open_logs.push_back(id);
        while self.open_logs.len() > OPEN_LOGS {
            if let Some(old) = self.open_logs.pop_front() {
                if let Some(r) = self.rooms.get_mut(&old) {
                    r.log.close();
                }
            }
        }
        self.rooms.get_mut(&id).map(|r| &mut r.log)
    }

    /// How many room logs hold an open file.
    pub fn open_files(&self) -> usize {
        self.rooms.values().filter(|r| r.log.is_open()).count()
    }

    /// Room `id`'s message log, for reading.
    pub fn log(&self, id: u64) -> Option<&MessageLog> {
        self.rooms.get(&id).map(|r| &r.log)
    }

    /// Ids of the rooms `user` belongs to, ascending.
    pub fn rooms_of(&self, user: &str) -> Vec<u64> {
        let member = |r: &Room| r.members.iter().any(|m| m == user);
        self.rooms
            .iter()
            .filter(|(_, r)| member(r))
            .map(|(&id, _)| id)
            .collect()
    }

    /// Registers a room in memory and opens (creating) its log.
    fn insert(&mut self, id: u64, members: Vec<String>) -> io::Result<()> {
        let mut log = MessageLog::open(&log_path(&self.dir, id))?;
        log.close();
        self.next_id = self.next_id.max(id + 1);
        self.by_set.insert(set_key(&members), id);
        self.rooms.insert(id, Room { members, log });
        Ok(())
    }

    /// Appends and fsyncs one line of `rooms.txt`, rolling back on error.
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        let mut end = files::End::at(self.end);
        let result = end
            .append(&self.file, line.as_bytes())
            .and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => self.end = end.len,
            Err(_) => {
                if let Err(e) = self.file.set_len(self.end) {
                    error!("{}: rollback failed: {e}", self.dir.display());
                }
            }
        }
        result
    }
}

/// Rooms read from `rooms.txt` and where its last whole line ends.
struct Loaded {
    rooms: Vec<(u64, Vec<String>)>,
    good_end: u64,
}

/// Parses `rooms.txt`, skipping bad or duplicate lines and truncating a
/// torn or unparsable tail so later appends start on a fresh line.
fn load(file: &mut File, path: &Path) -> io::Result<Loaded> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let mut loaded = Loaded {
        rooms: Vec::new(),
        good_end: 0,
    };
    let mut seen = BTreeSet::new();
    let mut pos = 0u64;
    for chunk in bytes.split_inclusive(|&b| b == b'\n') {
        let start = pos;
        pos += chunk.len() as u64;
        let Some((id, members)) = parse_line(chunk) else {
            continue;
        };
        if loaded.good_end != start {
            warn!(
                "{}: skipping bad bytes {}..{start}",
                path.display(),
                loaded.good_end
            );
        }
        loaded.good_end = pos;
        if seen.insert(id) {
            loaded.rooms.push((id, members));
        } else {
            warn!("{}: ignoring duplicate room {id}", path.display());
        }
    }
    if pos > loaded.good_end {
        let at = loaded.good_end;
        warn!("{}: truncating torn tail at offset {at}", path.display());
        file.set_len(at)?;
        file.sync_all()?;
    }
    Ok(loaded)
}

/// Parses a whole `<id>; <m1>, <m2>, ...\n` line.
fn parse_line(chunk: &[u8]) -> Option<(u64, Vec<String>)> {
    let line = std::str::from_utf8(chunk.strip_suffix(b"\n")?).ok()?;
    let (id, rest) = line.split_once("; ")?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id = id.parse().ok().filter(|&id| id > 0)?;
    let members: Vec<String> = rest.split(", ").map(str::to_owned).collect();
    validate(&members).ok()?;
    Some((id, members))
}

/// Drops repeated names, keeping first occurrences in order.
fn dedup(members: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    members
        .into_iter()
        .filter(|m| seen.insert(m.clone()))
        .collect()
}

/// Order- and repeat-insensitive lookup key for a member list.
fn set_key(members: &[String]) -> Vec<String> {
    let set: BTreeSet<&String> = members.iter().collect();
    set.into_iter().cloned().collect()
}

/// Checks that the list is non-empty and every name survives the
/// `rooms.txt` line format unchanged.
fn validate(members: &[String]) -> io::Result<()> {
    // User names may hold `,` and `;` but never a space, so the separators stay unique.
    let bad = |m: &String| {
        m.is_empty()
            || m.trim() != m
            || m.contains(['\n', '\r'])
            || m.contains(", ")
            || m.contains("; ")
    };
    match members.iter().find(|m| bad(m)) {
        _ if members.is_empty() => Err(invalid("a room needs members".into())),
        Some(m) => Err(invalid(format!("bad member name {m:?}"))),
        None => Ok(()),
    }
}

/// An `InvalidInput` error with `msg`.
fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

#[cfg(test)]
#[path = "rooms_tests.rs"]
mod tests;
