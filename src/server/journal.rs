//! The durable record of per-user state that has no file of its own: block lists and
//! undelivered offline messages, as an append-only `journal.jsonl` in the data directory.
//!
//! Each change is one JSON line, written whole and fsynced before the user is told it
//! happened; start-up replays the file. A crash can only leave a torn *last* line, which
//! replay drops (and truncates away) since nothing was acknowledged for it. The journal is
//! small in practice (a line per block change or undelivered message); it is compacted at
//! start-up by rewriting what replay produced.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
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
    /// recipient -> lines waiting, oldest first
    pub offline: HashMap<String, Vec<String>>,
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
            Record::Offline { to, line } => self
                .offline
                .entry(to.clone())
                .or_default()
                .push(line.clone()),
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
        for (to, lines) in &self.offline {
            for line in lines {
                out.push(Record::Offline {
                    to: to.clone(),
                    line: line.clone(),
                });
            }
        }
        out
    }
}

/// The open journal file.
pub struct Journal {
    file: File,
}

impl Journal {
    /// Replays `dir/journal.jsonl`, compacts it, and opens it for appending.
    pub fn open(dir: &Path) -> io::Result<(Journal, Replayed)> {
        let path = dir.join("journal.jsonl");
        let mut state = Replayed::default();
        match std::fs::read(&path) {
            Ok(bytes) => replay(&bytes, &mut state),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        compact(&path, &state)?;
        let file = OpenOptions::new().append(true).create(true).open(&path)?;
        Ok((Journal { file }, state))
    }

    /// Writes one record and syncs it.
    pub fn append(&mut self, rec: &Record) -> io::Result<()> {
        let mut line = serde_json::to_vec(rec).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }
}

/// Applies every whole line; stops at the first torn or unreadable one.
fn replay(bytes: &[u8], state: &mut Replayed) {
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let Some(body) = line.strip_suffix(b"\n") else {
            log::warn!("journal: dropping a torn last line");
            break;
        };
        match serde_json::from_slice::<Record>(body) {
            Ok(rec) => state.apply(&rec),
            Err(e) => {
                log::warn!("journal: stopping replay at an unreadable line: {e}");
                break;
            }
        }
    }
}

/// Rewrites the journal as the minimal records for `state`: temp file, fsync, rename.
fn compact(path: &Path, state: &Replayed) -> io::Result<()> {
    let tmp: PathBuf = path.with_extension("jsonl.tmp");
    let mut f = File::create(&tmp)?;
    for rec in state.records() {
        let mut line = serde_json::to_vec(&rec).map_err(io::Error::other)?;
        line.push(b'\n');
        f.write_all(&line)?;
    }
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
                Record::Offline {
                    to: "luke".into(),
                    line: "hans: one".into(),
                },
                Record::Offline {
                    to: "luke".into(),
                    line: "hans: two".into(),
                },
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
        assert_eq!(state.offline["luke"], vec!["hans: two".to_string()]);
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
