//! `chinwag-server export --cluster URL DIR`: the cluster's data as a single server's
//! files (BEHAVIOUR §4), so an operator can read, grep and back it up as usual:
//! credentials.txt (0600), messagelog.txt, SR_<id>_messagelog.txt per room, and
//! threads/TITLE. Each file is written whole to a temporary name and renamed, so DIR
//! never holds half a file.

use super::logs::Log;
use super::{RedisStore, StoreError};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// What an export wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Exported {
    pub accounts: usize,
    pub broadcasts: usize,
    pub rooms: usize,
    pub threads: usize,
    /// Thread titles that are not safe file names (never written).
    pub skipped: Vec<String>,
}

/// Why an export stopped.
#[derive(Debug)]
pub enum ExportError {
    Store(StoreError),
    File(PathBuf, io::Error),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Store(e) => e.fmt(f),
            ExportError::File(path, e) => write!(f, "cannot write {}: {e}", path.display()),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<StoreError> for ExportError {
    fn from(e: StoreError) -> Self {
        ExportError::Store(e)
    }
}

/// `chinwag-server export --cluster URL DIR`.
#[derive(clap::Parser, Debug)]
#[command(
    name = "chinwag-server export",
    about = "Writes a cluster's data from Redis into DIR as a single server's files"
)]
pub struct ExportArgs {
    /// The cluster's Redis (redis://HOST:PORT[/DB]).
    #[arg(long, value_name = "URL")]
    pub cluster: String,
    /// Where to write credentials.txt, messagelog.txt, SR_<id>_messagelog.txt, threads/.
    pub dir: std::path::PathBuf,
}

impl ExportArgs {
    /// Runs the export; the line to print, or the one error line.
    pub fn run(&self) -> Result<String, String> {
        let fail = |e: &dyn std::fmt::Display| {
            let text = e.to_string();
            crate::text::export_failed(text.lines().next().unwrap_or_default())
        };
        let store = RedisStore::open(&self.cluster).map_err(|e| fail(&e))?;
        let done = export(&store, &self.dir).map_err(|e| fail(&e))?;
        Ok(crate::text::exported(
            done.accounts,
            done.broadcasts,
            done.rooms,
            done.threads,
            &self.dir,
        ))
    }
}

/// Writes the cluster's files into `dir` (made if missing).
pub fn export(store: &RedisStore, dir: &Path) -> Result<Exported, ExportError> {
    let mut done = Exported::default();
    let accounts = store.accounts()?;
    done.accounts = accounts.len();
    let lines = accounts
        .iter()
        .map(|(name, secret)| format!("{name} {secret}"));
    write_file(&dir.join("credentials.txt"), lines, 0o600)?;
    done.broadcasts = write_log(store, Log::Broadcast, &dir.join("messagelog.txt"))?;
    for id in 1..=store.room_count()? {
        write_log(
            store,
            Log::Room(id),
            &dir.join(format!("SR_{id}_messagelog.txt")),
        )?;
        done.rooms += 1;
    }
    // As a single server's DATA_DIR, which always has it.
    let threads = dir.join("threads");
    fs::create_dir_all(&threads).map_err(|e| ExportError::File(threads, e))?;
    for title in store.thread_titles()? {
        if !crate::names::valid_name(&title) {
            log::warn!("export: thread title {title:?} is not a safe file name; skipped");
            done.skipped.push(title);
            continue;
        }
        let Some(text) = store.thread_text(&title)? else {
            continue; // removed meanwhile
        };
        let path = dir.join("threads").join(&title);
        write_file(&path, text.lines().map(str::to_string), 0o644)?;
        done.threads += 1;
    }
    Ok(done)
}

fn write_log(store: &RedisStore, log: Log, path: &Path) -> Result<usize, ExportError> {
    let entries = store.entries(log)?;
    write_file(path, entries.iter().map(|e| e.to_string()), 0o644)?;
    Ok(entries.len())
}

/// Writes `lines` (each newline-terminated) to `path` through a temporary file.
fn write_file(
    path: &Path,
    lines: impl Iterator<Item = String>,
    mode: u32,
) -> Result<(), ExportError> {
    let fail = |e: io::Error| ExportError::File(path.to_path_buf(), e);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(fail)?;
    }
    let tmp = path.with_file_name(format!(
        ".{}.export",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let mut text = String::new();
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    fs::rename(&tmp, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::super::testing::RedisServer;
    use super::*;
    use crate::server::store::history::LogEntry;

    #[test]
    fn export_writes_a_single_servers_files() {
        let redis = RedisServer::start();
        let store = RedisStore::open(&redis.url()).unwrap();
        store.add_account("yoda", "wise").unwrap();
        store.add_account("hans", "$argon2id$v=19$x").unwrap();
        store
            .append(Log::Broadcast, 1_654_095_601, "yoda", "do or do not")
            .unwrap();
        let members = ["yoda".to_string(), "hans".to_string()];
        let crate::server::store::Created::New(room) = store.create_room(&members).unwrap() else {
            panic!("a new room")
        };
        store
            .append(Log::Room(room), 1_654_095_602, "hans", "hi room")
            .unwrap();
        store.create_thread("3331", "yoda").unwrap();
        let post = |old: &str| -> Result<String, ()> { Ok(format!("{old}1 yoda: Networks\n")) };
        store.update_thread("3331", post).unwrap();
        store.create_thread("../evil", "hans").unwrap();

        let dir = tempfile::tempdir().unwrap();
        let done = export(&store, dir.path()).unwrap();
        assert_eq!(
            (done.accounts, done.broadcasts, done.rooms, done.threads),
            (2, 1, 1, 1)
        );
        assert_eq!(done.skipped, ["../evil"]);
        let read = |name: &str| fs::read_to_string(dir.path().join(name)).unwrap();
        // In the order they were added, as a single server's sign-ups append.
        assert_eq!(
            read("credentials.txt"),
            "yoda wise\nhans $argon2id$v=19$x\n"
        );
        assert_eq!(read("threads/3331"), "yoda\n1 yoda: Networks\n");
        let line = read("messagelog.txt");
        let entry = LogEntry::from_line(line.trim_end()).expect("the server's own format");
        assert_eq!((entry.number, entry.user.as_str()), (1, "yoda"));
        assert!(read("SR_1_messagelog.txt").starts_with("1; "));
        let mode = fs::metadata(dir.path().join("credentials.txt")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
    }
}
