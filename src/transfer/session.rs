//! One incoming transfer on the audience side: reassembly, ack generation,
//! streaming to a temporary file, and checksum-verified rename.
//!
//! Chunks land in a fixed ring of `WINDOW` slots; whenever the in-order
//! prefix grows by `FLUSH_CHUNKS` it is hashed and written to the temp file,
//! so memory is bounded and the whole-file hash is ready when FIN arrives.
//! The final name only ever appears via `rename` after the hash matched; a
//! session dropped in any other state deletes its temp file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::wire::{self, Ack, SACK_BITS};
use super::WINDOW;

/// In-order chunks accumulated before a write + hash.
const FLUSH_CHUNKS: u32 = 128;
/// Ack after this many data datagrams...
const ACK_EVERY: u32 = 32;
/// ...or this many while a hole exists (so the sender learns of loss early).
const ACK_EVERY_GAP: u32 = 4;

/// How a finished session ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Saved(PathBuf),
    Failed(u8, String),
}

pub(crate) struct Session {
    pub from: String,
    pub file: String,
    pub sid: u32,
    size: u64,
    total: u32,
    chunk: usize,
    buf: Vec<u8>,
    have: Vec<bool>,
    cum: u32,
    flushed: u32,
    high: u32,
    out: Option<File>,
    tmp: PathBuf,
    dest: PathBuf,
    hasher: blake3::Hasher,
    unacked: u32,
    last_ts: u32,
    pub last_heard: Instant,
    /// When progress was last reported.
    pub last_report: Instant,
    /// Set once finished; the session lingers to answer repeated FINs.
    pub outcome: Option<(Outcome, Instant)>,
}

/// Parameters of an accepted START.
pub(crate) struct Start<'a> {
    pub dir: &'a Path,
    pub from: &'a str,
    pub file: &'a str,
    pub token: &'a str,
    pub sid: u32,
    pub size: u64,
    pub chunk: u16,
}

impl Session {
    /// Create the temp file and buffers for an accepted START.
    pub fn open(st: &Start<'_>) -> io::Result<Session> {
        let chunk = st.chunk as usize;
        if chunk == 0 || chunk + wire::DATA_HEADER > 1400 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad chunk size",
            ));
        }
        let total = u32::try_from(st.size.div_ceil(chunk as u64))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large"))?;
        let safe_token: String = st
            .token
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(24)
            .collect();
        let tmp = st.dir.join(format!(
            ".{}_{}.part.{}{:08x}",
            st.from, st.file, safe_token, st.sid
        ));
        let out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        Ok(Session {
            from: st.from.to_string(),
            file: st.file.to_string(),
            sid: st.sid,
            size: st.size,
            total,
            chunk,
            buf: vec![0; WINDOW * chunk],
            have: vec![false; WINDOW],
            cum: 0,
            flushed: 0,
            high: 0,
            out: Some(out),
            tmp,
            dest: st.dir.join(format!("{}_{}", st.from, st.file)),
            hasher: blake3::Hasher::new(),
            unacked: 0,
            last_ts: 0,
            last_heard: Instant::now(),
            last_report: Instant::now(),
            outcome: None,
        })
    }

    fn slot(&self, seq: u32) -> usize {
        seq as usize % WINDOW
    }

    fn len_of(&self, seq: u32) -> usize {
        (self.size - seq as u64 * self.chunk as u64).min(self.chunk as u64) as usize
    }

    /// Take one data chunk. Returns true if an ack should be sent now.
    pub fn on_data(&mut self, seq: u32, ts: u32, payload: &[u8]) -> io::Result<bool> {
        if self.outcome.is_some() {
            return Ok(false);
        }
        if seq >= self.total || payload.len() != self.len_of(seq) {
            return Ok(false); // not part of this file
        }
        self.unacked += 1;
        self.last_ts = ts;
        let s = self.slot(seq);
        if seq < self.cum || seq >= self.flushed + WINDOW as u32 || self.have[s] {
            return Ok(true); // duplicate or beyond window: tell the sender where we are
        }
        self.buf[s * self.chunk..s * self.chunk + payload.len()].copy_from_slice(payload);
        self.have[s] = true;
        self.high = self.high.max(seq + 1);
        while self.cum < self.high && self.have[self.slot(self.cum)] {
            self.cum += 1;
        }
        if self.cum - self.flushed >= FLUSH_CHUNKS || self.cum == self.total {
            self.flush()?;
        }
        let gap = self.high > self.cum;
        Ok(self.unacked >= ACK_EVERY
            || (gap && self.unacked >= ACK_EVERY_GAP)
            || self.cum == self.total)
    }

    /// Hash and write the in-order chunks not yet written.
    fn flush(&mut self) -> io::Result<()> {
        while self.flushed < self.cum {
            let first = self.slot(self.flushed);
            let n = (self.cum - self.flushed).min((WINDOW - first) as u32);
            let last = self.flushed + n - 1;
            let bytes = (n as usize - 1) * self.chunk + self.len_of(last);
            let seg = &self.buf[first * self.chunk..first * self.chunk + bytes];
            self.hasher.update(seg);
            if let Some(f) = self.out.as_mut() {
                f.write_all(seg)?;
            }
            self.have[first..first + n as usize].fill(false);
            self.flushed += n;
        }
        Ok(())
    }

    /// True if data arrived since the last ack.
    pub fn needs_ack(&self) -> bool {
        self.unacked > 0 && self.outcome.is_none()
    }

    /// Encode an ACK (cumulative + SACK bitmap) into `out`.
    pub fn ack(&mut self, out: &mut Vec<u8>) {
        let mut a = Ack::new(
            self.sid,
            self.cum,
            self.flushed + WINDOW as u32,
            self.last_ts,
        );
        let end = self.high.min(self.cum + 1 + SACK_BITS);
        for seq in self.cum + 1..end {
            if self.have[self.slot(seq)] {
                a.set(seq - self.cum - 1);
            }
        }
        wire::ack(out, &a);
        self.unacked = 0;
    }

    /// Handle FIN: `None` while data is still missing, else the outcome
    /// (verifying and renaming on the first call).
    pub fn on_fin(&mut self, hash: &[u8; 32]) -> Option<Outcome> {
        if let Some((o, _)) = &self.outcome {
            return Some(o.clone());
        }
        if self.cum < self.total {
            return None;
        }
        let outcome = match self.finalize(hash) {
            Ok(o) => o,
            Err(e) => Outcome::Failed(wire::ABORT_IO, format!("write failed: {e}")),
        };
        self.finish(outcome.clone());
        Some(outcome)
    }

    fn finalize(&mut self, hash: &[u8; 32]) -> io::Result<Outcome> {
        self.flush()?;
        self.out = None; // close; no fsync (see the durability note in mod.rs)
        if self.hasher.finalize().as_bytes() != hash {
            return Ok(Outcome::Failed(
                wire::ABORT_CHECKSUM,
                "checksum mismatch".into(),
            ));
        }
        let saved = claim_free_name(&self.tmp, &self.dest)?;
        Ok(Outcome::Saved(saved))
    }

    /// File bytes received in order so far.
    pub fn received(&self) -> u64 {
        (self.cum as u64 * self.chunk as u64).min(self.size)
    }

    /// Time for another progress report (at most every `PROGRESS_EVERY`)?
    pub fn due_report(&mut self) -> bool {
        let due = self.last_report.elapsed() >= super::PROGRESS_EVERY;
        if due {
            self.last_report = Instant::now();
        }
        due
    }

    /// Where this upload has got, for the client's progress bar.
    pub fn progress(&self) -> super::RecvProgress {
        super::RecvProgress {
            from: self.from.clone(),
            file: self.file.clone(),
            done: self.received(),
            size: self.size,
        }
    }

    /// Record the outcome; failures remove the temp file immediately.
    pub fn finish(&mut self, outcome: Outcome) {
        if matches!(outcome, Outcome::Failed(..)) {
            self.out = None;
            let _ = fs::remove_file(&self.tmp);
        }
        self.outcome = Some((outcome, Instant::now()));
    }

    pub fn is_open(&self) -> bool {
        self.outcome.is_none()
    }
}

/// Moves the verified temp file to `dest`, or if that exists to the first free
/// `stem-N.ext` beside it: an existing file is never overwritten. A hard link fails
/// rather than replace, so two uploads finishing at once cannot take the same name.
fn claim_free_name(tmp: &Path, dest: &Path) -> io::Result<PathBuf> {
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, format!(".{e}")),
        _ => (name, String::new()),
    };
    for n in 0u32.. {
        let candidate = match n {
            0 => dest.to_path_buf(),
            n => dest.with_file_name(format!("{stem}-{n}{ext}")),
        };
        match fs::hard_link(tmp, &candidate) {
            Ok(()) => {
                let _ = fs::remove_file(tmp);
                return Ok(candidate);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            // No hard links here (some file systems): rename, after checking.
            Err(_) if !candidate.exists() => {
                fs::rename(tmp, &candidate)?;
                return Ok(candidate);
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free name"))
}

impl Drop for Session {
    fn drop(&mut self) {
        if !matches!(self.outcome, Some((Outcome::Saved(_), _))) {
            self.out = None;
            let _ = fs::remove_file(&self.tmp);
        }
    }
}
