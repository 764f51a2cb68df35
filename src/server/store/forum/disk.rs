//! Filesystem helpers for the forum: crash-safe file replacement, directory
//! fsync, and the startup scan that loads threads and sweeps away debris
//! (temp files, partial uploads, upload folders of vanished threads).

use super::thread::Thread;
use crate::names::valid_name;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Flushes a directory's entries (creations, renames, unlinks) to disk.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `dir/name` with `contents` so that a crash leaves either the old
/// or the new file, never a torn one: write `dir/.name.tmp`, fsync, rename,
/// fsync the directory.
pub(super) fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut file = super::super::files::create_fresh(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes a file, treating "already gone" as success.
pub(super) fn remove_file_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes a directory tree, treating "already gone" as success.
pub(super) fn remove_tree_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Reads every thread file in `dir`, skipping hidden files (deleting stale
/// `.*.tmp` ones) and names that are not valid titles. Each thread gets a
/// generation number from `next_gen`.
pub(super) fn load_threads(dir: &Path, next_gen: &mut u64) -> io::Result<BTreeMap<String, Thread>> {
    let mut threads = BTreeMap::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') && name.ends_with(".tmp") {
            remove_file_if_exists(&entry.path())?;
            continue;
        }
        if !valid_name(&name) || !entry.file_type()?.is_file() {
            continue;
        }
        let text = fs::read_to_string(entry.path())?;
        match Thread::parse(&name, &text, *next_gen) {
            Some(thread) => {
                *next_gen += 1;
                threads.insert(name, thread);
            }
            None => log::warn!("thread file {name} has no creator line; ignored"),
        }
    }
    Ok(threads)
}

/// Tidies `uploads/`: deletes folders of threads that no longer exist (a
/// crash mid-remove) and leftovers such as trash folders, and removes
/// partial uploads (hidden files) inside the folders that remain.
pub(super) fn sweep_uploads(dir: &Path, threads: &BTreeMap<String, Thread>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let keep = name.to_str().is_some_and(|n| threads.contains_key(n));
        if !entry.file_type()?.is_dir() {
            remove_file_if_exists(&path)?;
        } else if !keep {
            log::info!("removing orphaned upload folder {}", path.display());
            remove_tree_if_exists(&path)?;
        } else {
            remove_hidden_files(&path)?;
        }
    }
    Ok(())
}

/// Deletes hidden files (partial uploads) directly inside `dir`.
fn remove_hidden_files(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            log::info!("removing partial upload {}", entry.path().display());
            remove_file_if_exists(&entry.path())?;
        }
    }
    Ok(())
}

/// Deletes everything inside `dir`, keeping `dir` itself.
pub(super) fn empty_dir(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_tree_if_exists(&entry.path())?;
        } else {
            remove_file_if_exists(&entry.path())?;
        }
    }
    sync_dir(dir)
}
