//! The append-only message log behind a chat room: one text file of lines
//! `N; D MMM YYYY HH:MM:SS; user; text`, numbered from 1 without gaps, plus
//! an in-memory index of `(unix seconds, byte offset)` per line (16 bytes a
//! line) so that "messages since t" seeks straight to the first match
//! instead of re-reading the file. The file is the source of truth: it is
//! scanned once at open, a torn tail left by a crash is cut off, and every
//! append is a single `write_all` of a whole line, so a message survives a
//! crash of the server once `append` returns; [`MessageLog::sync_point`] is
//! what to fsync (the server's syncer does, before confirming to the sender)
//! to survive a crash of the machine too. The file is opened with
//! `O_NOFOLLOW`; [`MessageLog::close`] lets go of it (the rooms keep only a few
//! open) and the next append opens it again. `MessageLog` is not internally
//! locked; the server keeps it behind a mutex.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::files;
use crate::server::syncer::SyncPoint;

use chrono::{DateTime, Local, TimeZone};
use log::{error, warn};

use crate::timefmt;

/// One message as stored in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Position in the log, starting at 1.
    pub number: u64,
    /// When the message was logged, whole seconds, local time.
    pub time: DateTime<Local>,
    /// Sender's user name.
    pub user: String,
    /// Message text (never contains a newline).
    pub text: String,
}

impl LogEntry {
    /// Parses one log line (with or without its trailing newline).
    /// The text is the last field and may itself contain `"; "`.
    pub fn from_line(line: &str) -> Option<LogEntry> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut fields = line.splitn(4, "; ");
        let number = fields.next().filter(|n| is_number(n))?.parse().ok()?;
        let time = timefmt::parse(fields.next()?)?;
        let user = fields.next()?.to_owned();
        let text = fields.next()?.to_owned();
        Some(LogEntry {
            number,
            time,
            user,
            text,
        })
    }
}

/// Formats the entry as its log line, without the trailing newline.
impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = timefmt::format(&self.time);
        write!(f, "{}; {}; {}; {}", self.number, time, self.user, self.text)
    }
}

/// Index slot for one line: its time in unix seconds and where it starts.
#[derive(Debug, Clone, Copy)]
struct Slot {
    ts: i64,
    offset: u64,
}

/// What the opening scan learned about an existing file.
#[derive(Default)]
struct Scan {
    index: Vec<Slot>,
    next_number: u64,
    good_end: u64,
    /// Bytes after `good_end` (a torn or garbage tail) to cut off.
    torn_bytes: u64,
}

/// An append-only, crash-safe message log with a time index.
pub struct MessageLog {
    path: PathBuf,
    /// Open for appending; `None` once closed, until the next append.
    file: Option<Arc<File>>,
    index: Vec<Slot>,
    /// `index[..sorted]` has non-decreasing timestamps; equals
    /// `index.len()` unless the clock ever went backwards.
    sorted: usize,
    next_number: u64,
    /// Length of the file as far as we have written (and fsynced) it.
    end: u64,
    /// Set when a failed append could not be rolled back.
    needs_repair: bool,
}

impl MessageLog {
    /// Opens the log at `path`, creating it if missing. Scans the file
    /// once to build the index; a torn or unparsable last line is
    /// truncated away (with a warning) and numbering continues from the
    /// last good line. Unparsable lines in the middle are skipped.
    pub fn open(path: &Path) -> io::Result<MessageLog> {
        let existed = path.exists();
        let file = open_append(path)?;
        if !existed {
            sync_parent(path);
        }
        let scan = scan(&file, path)?;
        if scan.torn_bytes > 0 {
            let (p, n, at) = (path.display(), scan.torn_bytes, scan.good_end);
            warn!("{p}: truncating torn tail of {n} bytes at offset {at}");
            file.set_len(scan.good_end)?;
            file.sync_all()?;
        }
        let mut log = MessageLog {
            path: path.to_path_buf(),
            file: Some(Arc::new(file)),
            index: Vec::with_capacity(scan.index.len()),
            sorted: 0,
            next_number: scan.next_number.max(1),
            end: scan.good_end,
            needs_repair: false,
        };
        scan.index.into_iter().for_each(|s| log.push(s));
        Ok(log)
    }

    /// Appends one message stamped `now` (truncated to whole seconds) with
    /// one `write` of the whole line; fsyncing is the caller's (see
    /// [`MessageLog::sync_point`]). `\r`/`\n` in `user` or `text`
    /// become spaces, as does `; ` in `user`, so the line always parses
    /// back. On error nothing is logged and the numbering is unchanged.
    pub fn append(&mut self, user: &str, text: &str, now: DateTime<Local>) -> io::Result<LogEntry> {
        let whole = Local.timestamp_opt(now.timestamp(), 0).single();
        let entry = LogEntry {
            number: self.next_number,
            time: whole.unwrap_or(now),
            user: user.replace(['\r', '\n'], " ").replace("; ", " "),
            text: text.replace(['\r', '\n'], " "),
        };
        let line = format!("{entry}\n");
        self.write_line(line.as_bytes())?;
        self.push(Slot {
            ts: entry.time.timestamp(),
            offset: self.end,
        });
        self.end += line.len() as u64;
        self.next_number += 1;
        Ok(entry)
    }

    /// Entries whose time (whole seconds) is strictly later than unix
    /// second `t`, in number order. Binary-searches the index, then reads
    /// only the tail of the file from the first candidate's offset.
    pub fn since(&self, t: i64) -> io::Result<Vec<LogEntry>> {
        let first = self.index[..self.sorted].partition_point(|s| s.ts <= t);
        let Some(slot) = self.index.get(first) else {
            return Ok(Vec::new());
        };
        let tail = self.read_tail(slot.offset)?;
        let tail = String::from_utf8_lossy(&tail);
        let entries = tail
            .split_terminator('\n')
            .filter_map(LogEntry::from_line)
            .filter(|e| e.time.timestamp() > t)
            .collect();
        Ok(entries)
    }

    /// Number of entries in the log.
    pub fn len(&self) -> u64 {
        self.index.len() as u64
    }

    /// True when the log holds no entries.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The number the next appended entry will get.
    pub fn next_number(&self) -> u64 {
        self.next_number
    }

    /// Records a new index slot, tracking whether order still holds.
    fn push(&mut self, slot: Slot) {
        let in_order = self.index.last().is_none_or(|last| slot.ts >= last.ts);
        if self.sorted == self.index.len() && in_order {
            self.sorted += 1;
        }
        self.index.push(slot);
    }

    /// The file to fsync to make every append so far durable (`None` only if the log
    /// was closed since, which fsyncs nothing new: take it right after `append`).
    pub fn sync_point(&self) -> Option<SyncPoint> {
        self.file.clone().map(SyncPoint)
    }

    /// Lets go of the file; the next append opens it again. A sync point taken before
    /// keeps its own handle until it is fsynced.
    pub fn close(&mut self) {
        self.file = None;
    }

    /// Is the file open?
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Writes one whole line; on failure cuts the file back to its last
    /// good length so a partial line never precedes the next one.
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let file = match &self.file {
            Some(f) => f.clone(),
            None => Arc::new(open_append(&self.path)?),
        };
        self.file = Some(file.clone());
        let mut end = files::End {
            len: self.end,
            needs_repair: self.needs_repair,
        };
        let result = end.append(&*file, line);
        self.needs_repair = end.needs_repair;
        if result.is_err() && end.needs_repair {
            error!("{}: rollback failed", self.path.display());
        }
        result
    }

    /// Reads the file from `offset` up to the end we know to be complete.
    fn read_tail(&self, offset: u64) -> io::Result<Vec<u8>> {
        let mut file = files::open_read(&self.path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity((self.end - offset) as usize);
        file.take(self.end - offset).read_to_end(&mut buf)?;
        Ok(buf)
    }
}

/// Opens a log for appending (and the opening scan), never through a symbolic link.
fn open_append(path: &Path) -> io::Result<File> {
    files::no_follow()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
}

/// Reads every line once, indexing the good ones. A run of bad lines at
/// the very end (including a line without `\n`) marks the file as torn.
fn scan(file: &File, path: &Path) -> io::Result<Scan> {
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut scan = Scan::default();
    let mut line = Vec::with_capacity(256);
    let mut pos = 0u64;
    let mut bad_from: Option<u64> = None;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let start = pos;
        pos += n as u64;
        let Some((number, ts)) = parse_indexed(&line) else {
            bad_from.get_or_insert(start);
            continue;
        };
        if let Some(from) = bad_from.take() {
            warn!("{}: skipping corrupt bytes {from}..{start}", path.display());
        }
        scan.index.push(Slot { ts, offset: start });
        scan.next_number = number + 1;
        scan.good_end = pos;
    }
    scan.torn_bytes = pos - scan.good_end;
    Ok(scan)
}

/// Number and unix time of a complete (newline-terminated) line; checks
/// the same shape as [`LogEntry::from_line`] without copying user or text.
fn parse_indexed(line: &[u8]) -> Option<(u64, i64)> {
    let line = std::str::from_utf8(line.strip_suffix(b"\n")?).ok()?;
    let mut fields = line.splitn(4, "; ");
    let number = fields.next().filter(|n| is_number(n))?.parse().ok()?;
    let time = timefmt::parse(fields.next()?)?;
    fields.nth(1)?;
    Some((number, time.timestamp()))
}

/// Non-empty and all ASCII digits (rejects `+1`, ` 1`).
fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Best-effort fsync of the directory holding a newly created file, so
/// the file's existence is as durable as its contents.
pub(crate) fn sync_parent(path: &Path) {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        warn!("{}: directory fsync failed: {e}", dir.display());
    }
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
