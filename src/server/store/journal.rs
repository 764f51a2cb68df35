//! The durable record of per-user state that has no file of its own: block lists and
//! undelivered offline messages, as an append-only `journal.jsonl` in the data directory.
//!
//! Each change is one JSON line, written whole and fsynced before the user is told it
//! happened; start-up replays the file. A failed append (a full disk) is cut back to the
//! last whole record, so a crash can only leave a torn *last* line, which replay drops
//! since nothing was acknowledged for it. Replay skips an unreadable line anywhere and
//! keeps every whole record after it (salvaging one glued to a torn predecessor); if it
//! skipped anything, the original file is kept as `journal.jsonl.bad-<unix time>` before
//! start-up compaction rewrites the journal as what replay produced. The file is mode
//! 0600 (it holds private messages).

use super::files::{self, End};
use super::Queued;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    Block {
        by: String,
        user: String,
    },
    Unblock {
        by: String,
        user: String,
    },
    Offline {
        to: String,
        line: String,
        /// When it was sent (Unix seconds); absent in records written before times were kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sent: Option<i64>,
    },
    /// The first `count` queued messages of `to` were delivered.
    Delivered {
        to: String,
        count: usize,
    },
}

/// What replay rebuilds.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replayed {
    /// blocker -> the users they block
    pub blocks: HashMap<String, HashSet<String>>,
    /// recipient -> messages waiting, oldest first
    pub offline: HashMap<String, Vec<Queued>>,
}

impl Replayed {
    pub fn apply(&mut self, rec: &Record) {
        match rec {
            Record::Block { by, user } => {
                self.blocks
                    .entry(by.clone())
                    .or_default()
                    .insert(user.clone());
            }
            Record::Unblock { by, user } => {
                if let Some(set) = self.blocks.get_mut(by) {
                    set.remove(user);
                }
            }
            Record::Offline { to, line, sent } => self
                .offline
                .entry(to.clone())
                .or_default()
                .push(Queued::new(line.clone(), *sent)),
            Record::Delivered { to, count } => {
                if let Some(q) = self.offline.get_mut(to) {
                    q.drain(..(*count).min(q.len()));
                }
            }
        }
    }

    fn records(&self) -> Vec<Record> {
        let mut out = Vec::new();
        for (by, users) in &self.blocks {
            for user in users {
                out.push(Record::Block {
                    by: by.clone(),
                    user: user.clone(),
                });
            }
        }
        for (to, queue) in &self.offline {
            for q in queue {
                out.push(Record::Offline {
                    to: to.clone(),
                    line: q.line.clone(),
                    sent: q.sent,
                });
            }
        }
        out
    }
}

/// The open journal file.
pub struct Journal {
    file: File,
    end: End,
}

impl Journal {
    /// Replays `dir/journal.jsonl`, compacts it, and opens it for appending.
    pub fn open(dir: &Path) -> io::Result<(Journal, Replayed)> {
        let path = dir.join("journal.jsonl");
        let mut state = Replayed::default();
        let mut whole = 0;
        let mut compactable = true;
        match files::open_read(&path).and_then(|f| read_all(&f)) {
            Ok(bytes) => {
                whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) as u64;
                if replay(&bytes, &mut state) > 0 {
                    compactable = keep_bad_copy(&path, &bytes)
                        .inspect_err(|e| log::warn!("journal: cannot keep a copy: {e}"))
                        .is_ok();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // A full disk must not keep the server from starting: without room to compact,
        // carry on with the file as it is, cut back to its last whole line.
        let compacted = compactable
            && compact(&path, &state)
                .inspect_err(|e| log::warn!("journal: not compacted: {e}"))
                .is_ok();
        let file = files::no_follow()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)?;
        files::private(&file)?;
        if !compacted && file.metadata()?.len() > whole {
            file.set_len(whole)?;
        }
        let end = End::at(file.metadata()?.len());
        Ok((Journal { file, end }, state))
    }

    /// Writes one record whole (or nothing: a failed write is cut back) and syncs it.
    pub fn append(&mut self, rec: &Record) -> io::Result<()> {
        let mut line = serde_json::to_vec(rec).map_err(io::Error::other)?;
        line.push(b'\n');
        self.end.append(&self.file, &line)?;
        self.file.sync_data()
    }
}

fn read_all(mut f: &File) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut f, &mut bytes)?;
    Ok(bytes)
}

/// Applies every whole, readable line; returns how many lines it could not read. A torn
/// last line (no newline) was never acknowledged and is dropped quietly.
fn replay(bytes: &[u8], state: &mut Replayed) -> usize {
    let mut bad = 0;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let Some(body) = line.strip_suffix(b"\n") else {
            log::warn!("journal: dropping a torn last line");
            break;
        };
        match serde_json::from_slice::<Record>(body)
            .ok()
            .or_else(|| salvage(body))
        {
            Some(rec) => state.apply(&rec),
            None => {
                log::warn!("journal: skipping an unreadable line");
                bad += 1;
            }
        }
    }
    bad
}

/// A whole record glued to the torn remains of an earlier one (written before failed
/// appends were cut back): the first suffix that starts a record and parses whole.
fn salvage(body: &[u8]) -> Option<Record> {
    (1..body.len())
        .filter(|&i| body[i..].starts_with(b"{\""))
        .find_map(|i| serde_json::from_slice::<Record>(&body[i..]).ok())
}

/// Keeps the journal as it was before compaction drops lines replay could not read.
fn keep_bad_copy(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let copy = path.with_extension(format!("jsonl.bad-{secs}"));
    log::warn!("journal: keeping the original as {}", copy.display());
    let mut f = files::no_follow()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&copy)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Rewrites the journal as the minimal records for `state`: temp file, fsync, rename.
fn compact(path: &Path, state: &Replayed) -> io::Result<()> {
    let tmp: PathBuf = path.with_extension("jsonl.tmp");
    let written = (|| {
        let mut f = files::create_fresh(&tmp)?;
        files::private(&f)?;
        for rec in state.records() {
            let mut line = serde_json::to_vec(&rec).map_err(io::Error::other)?;
            line.push(b'\n');
            f.write_all(&line)?;
        }
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::os::unix::fs::PermissionsExt;

    fn offline(to: &str, line: &str) -> Record {
        Record::Offline {
            to: to.into(),
            line: line.into(),
            sent: None,
        }
    }

    fn lines(state: &Replayed, to: &str) -> Vec<String> {
        state.offline[to].iter().map(|q| q.line.clone()).collect()
    }

    /// A record torn by a full disk (before failed appends were cut back) in the middle,
    /// with records after it, one glued to its remains: nothing after it is lost, and the
    /// original is kept.
    #[test]
    fn a_torn_record_in_the_middle_loses_nothing_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let line = |r: &Record| serde_json::to_string(r).unwrap();
        let text = format!(
            "{}\n{{\"offline\":{{\"to\":\"luke\",\"li{}\ngarbage\n{}\n",
            line(&offline("luke", "hans: one")),
            line(&offline("luke", "hans: two")),
            line(&offline("luke", "hans: three")),
        );
        std::fs::write(&path, text).unwrap();
        let (_, state) = Journal::open(dir.path()).unwrap();
        assert_eq!(
            lines(&state, "luke"),
            ["hans: one", "hans: two", "hans: three"]
        );
        let (_, again) = Journal::open(dir.path()).unwrap();
        assert_eq!(again, state);
        let kept = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with("journal.jsonl.bad-")
            })
            .count();
        assert_eq!(kept, 1);
    }

    /// A message's send time is kept through a restart and compaction; a record written
    /// before times were kept still reads, without one.
    #[test]
    fn offline_messages_keep_their_send_time() {
        let dir = tempfile::tempdir().unwrap();
        let old = "{\"offline\":{\"to\":\"luke\",\"line\":\"hans: old\"}}\n";
        std::fs::write(dir.path().join("journal.jsonl"), old).unwrap();
        {
            let (mut j, _) = Journal::open(dir.path()).unwrap();
            let timed = Record::Offline {
                to: "luke".into(),
                line: "hans: new".into(),
                sent: Some(1_764_700_000),
            };
            j.append(&timed).unwrap();
        }
        let want = [
            Queued::new("hans: old", None),
            Queued::new("hans: new", Some(1_764_700_000)),
        ];
        let (_, state) = Journal::open(dir.path()).unwrap();
        assert_eq!(state.offline["luke"], want);
        let (_, again) = Journal::open(dir.path()).unwrap();
        assert_eq!(again.offline["luke"], want);
    }

    #[test]
    fn the_journal_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (mut j, _) = Journal::open(dir.path()).unwrap();
        j.append(&offline("a", "b: c")).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn replay_survives_reopen_and_drops_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, _) = Journal::open(dir.path()).unwrap();
            for rec in [
                Record::Block {
                    by: "luke".into(),
                    user: "hans".into(),
                },
                offline("luke", "hans: one"),
                offline("luke", "hans: two"),
                Record::Delivered {
                    to: "luke".into(),
                    count: 1,
                },
            ] {
                j.append(&rec).unwrap();
            }
        }
        let path = dir.path().join("journal.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"block\":{\"by\":\"x\"").unwrap();
        drop(f);
        let (_, state) = Journal::open(dir.path()).unwrap();
        assert!(state.blocks["luke"].contains("hans"));
        assert!(!state.blocks.contains_key("x"));
        assert_eq!(lines(&state, "luke"), ["hans: two"]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn unblock_reverses_block() {
        let mut s = Replayed::default();
        s.apply(&Record::Block {
            by: "a".into(),
            user: "b".into(),
        });
        s.apply(&Record::Unblock {
            by: "a".into(),
            user: "b".into(),
        });
        assert!(s.blocks["a"].is_empty());
    }
}
