//! The discussion forum's storage: threads, their posts and uploaded files.
//!
//! This module owns everything under the data directory's `threads/` and
//! `uploads/` folders, so that the rules that keep them consistent live in
//! one place. Each thread is a text file `threads/TITLE` (see `thread.rs` for
//! the exact format) and its files live in `uploads/TITLE/FILE`. Every thread
//! is also kept in memory, parsed once at [`Forum::open`], so reads never
//! touch the disk; every change rewrites the thread file atomically (temp
//! file, fsync, rename, directory fsync) so a crash cannot leave a torn file.
//! One mutex guards the in-memory state and serialises thread-file rewrites;
//! upload data is streamed to disk by an [`Upload`] without holding it, and a
//! name being uploaded is reserved so two clients cannot race for it.

mod cluster;
mod disk;
mod thread;
mod upload;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_upload;

pub use cluster::RedisForum;
pub use upload::Upload;

use super::{files, ForumStore};
use crate::names::valid_name;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use thread::{one_line, Thread};

/// Why a forum operation was refused or failed.
#[derive(Debug)]
pub enum ForumError {
    /// No thread has that title.
    NoThread,
    /// A thread with that title already exists.
    ThreadExists,
    /// The thread has no post with this number.
    NoMessage(u64),
    /// Only a post's author may edit or delete it.
    NotAuthor,
    /// Only a thread's creator may remove it.
    NotCreator,
    /// The thread already has (or is receiving) a file with that name.
    FileExists,
    /// The thread has no file with that name.
    NoFile,
    /// A title, file name or username is not a valid name.
    BadName,
    /// The upload is larger than allowed or than declared.
    TooLarge,
    /// The disk failed us (or an upload ended short of its declared size).
    Io(io::Error),
}

impl fmt::Display for ForumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForumError::NoThread => f.write_str("thread does not exist"),
            ForumError::ThreadExists => f.write_str("thread already exists"),
            ForumError::NoMessage(n) => write!(f, "message {n} does not exist"),
            ForumError::NotAuthor => f.write_str("message belongs to another user"),
            ForumError::NotCreator => f.write_str("thread was created by another user"),
            ForumError::FileExists => f.write_str("file already exists in thread"),
            ForumError::NoFile => f.write_str("file does not exist in thread"),
            ForumError::BadName => f.write_str("invalid name"),
            ForumError::TooLarge => f.write_str("file too large"),
            ForumError::Io(e) => write!(f, "storage error: {e}"),
        }
    }
}

impl std::error::Error for ForumError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ForumError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ForumError {
    fn from(e: io::Error) -> Self {
        ForumError::Io(e)
    }
}

/// The forum: all threads and uploads under one data directory.
/// Cheap to share between connection threads (e.g. in an `Arc`).
pub struct Forum {
    shared: Arc<Shared>,
}

/// What the forum and its in-flight uploads share.
struct Shared {
    threads_dir: PathBuf,
    uploads_dir: PathBuf,
    max_upload: u64,
    state: Mutex<State>,
}

/// Everything behind the lock.
struct State {
    threads: BTreeMap<String, Thread>,
    /// Upload names in flight, as (thread generation, file name).
    reserved: HashSet<(u64, String)>,
    next_gen: u64,
}

/// Fails with `BadName` unless every name is valid.
fn check_names(names: &[&str]) -> Result<(), ForumError> {
    match names.iter().all(|n| valid_name(n)) {
        true => Ok(()),
        false => Err(ForumError::BadName),
    }
}

/// Fails with `BadName` unless `user` fits the one-word thread file format. A username
/// is never a path (any login name, `/` or a leading `.` included, is fine), but a space
/// or a line break would break the `N user: text` and `user uploaded FILE` lines.
fn check_user(user: &str) -> Result<(), ForumError> {
    let bad = |c: char| c.is_whitespace() || c.is_control();
    match user.is_empty() || user.contains(bad) {
        true => Err(ForumError::BadName),
        false => Ok(()),
    }
}

/// A suffix no other temp file of this process (or a previous one) uses.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

impl Forum {
    /// Opens (creating if needed) the forum under `data_dir`, loading every
    /// thread and removing temp files and partial uploads left by a crash.
    /// Uploads larger than `max_upload` bytes are refused.
    pub fn open(data_dir: &Path, max_upload: u64) -> io::Result<Forum> {
        let threads_dir = data_dir.join("threads");
        let uploads_dir = data_dir.join("uploads");
        fs::create_dir_all(data_dir)?;
        files::create_dir(&threads_dir)?;
        files::create_dir(&uploads_dir)?;
        let mut next_gen = 0;
        let threads = disk::load_threads(&threads_dir, &mut next_gen)?;
        disk::sweep_uploads(&uploads_dir, &threads)?;
        let state = State {
            threads,
            reserved: HashSet::new(),
            next_gen,
        };
        let shared = Shared {
            threads_dir,
            uploads_dir,
            max_upload,
            state: Mutex::new(state),
        };
        Ok(Forum {
            shared: Arc::new(shared),
        })
    }
}

impl ForumStore for Forum {
    /// Creates an empty thread `title` owned by `user`.
    fn create(&self, title: &str, user: &str) -> Result<(), ForumError> {
        check_names(&[title])?;
        check_user(user)?;
        let mut state = self.shared.state.lock();
        if state.threads.contains_key(title) {
            return Err(ForumError::ThreadExists);
        }
        let thread = Thread::new(user, state.next_gen);
        self.shared.persist(title, &thread)?;
        state.next_gen += 1;
        state.threads.insert(title.to_string(), thread);
        Ok(())
    }

    /// Appends a post (line breaks become spaces); returns its number.
    fn post(&self, title: &str, user: &str, text: &str) -> Result<u64, ForumError> {
        check_names(&[title])?;
        check_user(user)?;
        let text = one_line(text);
        self.shared.update(title, |t| Ok(t.add_post(user, &text)))
    }

    /// Deletes post `n` (its author only); later posts are renumbered.
    fn delete(&self, title: &str, n: u64, user: &str) -> Result<(), ForumError> {
        check_names(&[title])?;
        check_user(user)?;
        self.shared.update(title, |t| t.delete_post(n, user))
    }

    /// Replaces the text of post `n` (its author only).
    fn edit(&self, title: &str, n: u64, user: &str, text: &str) -> Result<(), ForumError> {
        check_names(&[title])?;
        check_user(user)?;
        let text = one_line(text);
        self.shared.update(title, |t| t.edit_post(n, user, &text))
    }

    fn list(&self) -> Result<Vec<String>, ForumError> {
        Ok(self.shared.state.lock().threads.keys().cloned().collect())
    }

    /// The thread's lines after the creator line, as stored
    /// (`1 yoda: hello`, `yoda uploaded test.exe`); empty if no entries.
    fn read(&self, title: &str) -> Result<Vec<String>, ForumError> {
        check_names(&[title])?;
        let state = self.shared.state.lock();
        let thread = state.threads.get(title).ok_or(ForumError::NoThread)?;
        Ok(thread.render_entries())
    }

    /// Starts receiving `size` bytes of `file` into thread `title`. The name
    /// is reserved until the returned [`Upload`] is finished or dropped.
    fn begin_upload(
        &self,
        title: &str,
        user: &str,
        file: &str,
        size: u64,
    ) -> Result<Upload, ForumError> {
        check_names(&[title, file])?;
        check_user(user)?;
        let mut state = self.shared.state.lock();
        let thread = state.threads.get(title).ok_or(ForumError::NoThread)?;
        let key = (thread.generation, file.to_string());
        if thread.has_file(file) || state.reserved.contains(&key) {
            return Err(ForumError::FileExists);
        }
        if size > self.shared.max_upload {
            return Err(ForumError::TooLarge);
        }
        let dir = self.shared.uploads_dir.join(title);
        files::create_dir(&dir)?;
        let temp = dir.join(format!(".{file}.part-{}", unique_suffix()));
        let out = File::create_new(&temp)?;
        state.reserved.insert(key.clone());
        let target = upload::Target {
            title: title.to_string(),
            user: user.to_string(),
            file: file.to_string(),
            generation: key.0,
        };
        Ok(Upload::new(
            Arc::clone(&self.shared) as Arc<dyn upload::UploadHome>,
            target,
            size,
            temp,
            out,
        ))
    }

    /// Opens an uploaded file for sending; returns it with its length.
    fn open_download(&self, title: &str, file: &str) -> Result<(File, u64), ForumError> {
        check_names(&[title, file])?;
        let state = self.shared.state.lock();
        let thread = state.threads.get(title).ok_or(ForumError::NoThread)?;
        if !thread.has_file(file) {
            return Err(ForumError::NoFile);
        }
        open_upload(&self.shared.uploads_dir.join(title), file)
    }

    /// Removes thread `title` and all its files (its creator only).
    fn remove(&self, title: &str, user: &str) -> Result<(), ForumError> {
        check_names(&[title])?;
        check_user(user)?;
        let trash = {
            let mut state = self.shared.state.lock();
            let thread = state.threads.get(title).ok_or(ForumError::NoThread)?;
            if thread.creator != user {
                return Err(ForumError::NotCreator);
            }
            fs::remove_file(self.shared.threads_dir.join(title))?;
            state.threads.remove(title);
            disk::sync_dir(&self.shared.threads_dir)?;
            self.shared.move_to_trash(title)?
        };
        if let Some(trash) = trash {
            if let Err(e) = disk::remove_tree_if_exists(&trash) {
                log::warn!("could not delete {}: {e}", trash.display());
            }
        }
        Ok(())
    }

    /// Deletes every thread and every upload (used at admin shutdown).
    fn wipe(&self) -> Result<(), ForumError> {
        let mut state = self.shared.state.lock();
        state.threads.clear();
        disk::empty_dir(&self.shared.threads_dir)?;
        Ok(disk::empty_dir(&self.shared.uploads_dir)?)
    }
}

/// Opens `dir/file` (an uploaded file) for sending, never through a symbolic link for
/// the folder or the file; returns it with its length.
fn open_upload(dir: &Path, file: &str) -> Result<(File, u64), ForumError> {
    let opened = files::check_dir(dir).and_then(|()| files::open_read(&dir.join(file)));
    let handle = opened.map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ForumError::NoFile,
        _ if e.raw_os_error() == Some(libc::ELOOP) => ForumError::NoFile,
        io::ErrorKind::PermissionDenied => ForumError::NoFile,
        _ => ForumError::Io(e),
    })?;
    let meta = handle.metadata()?;
    if !meta.is_file() {
        return Err(ForumError::NoFile);
    }
    Ok((handle, meta.len()))
}

impl Shared {
    /// Rewrites `threads/TITLE` from `thread`, atomically.
    fn persist(&self, title: &str, thread: &Thread) -> io::Result<()> {
        let text = thread.render_file();
        disk::write_atomic(&self.threads_dir, title, text.as_bytes())
    }

    /// Applies `change` to a copy of the thread, persists the copy, and only
    /// then installs it, so memory never runs ahead of the disk.
    fn update<T>(
        &self,
        title: &str,
        change: impl FnOnce(&mut Thread) -> Result<T, ForumError>,
    ) -> Result<T, ForumError> {
        let mut state = self.state.lock();
        let thread = state.threads.get_mut(title).ok_or(ForumError::NoThread)?;
        let mut next = thread.clone();
        let out = change(&mut next)?;
        self.persist(title, &next)?;
        *thread = next;
        Ok(out)
    }

    /// Renames `uploads/TITLE` to a hidden trash name (never a valid title)
    /// so it can be deleted without the lock; `None` if there was none.
    fn move_to_trash(&self, title: &str) -> io::Result<Option<PathBuf>> {
        move_to_trash(&self.uploads_dir, title)
    }
}

/// Renames `uploads/TITLE` aside (see [`Shared::move_to_trash`]).
fn move_to_trash(uploads_dir: &Path, title: &str) -> io::Result<Option<PathBuf>> {
    let dir = uploads_dir.join(title);
    let trash = uploads_dir.join(format!(".{title}.trash-{}", unique_suffix()));
    match fs::rename(&dir, &trash) {
        Ok(()) => Ok(Some(trash)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => {
            log::warn!(
                "could not move {} aside ({e}); deleting in place",
                dir.display()
            );
            disk::remove_tree_if_exists(&dir).map(|()| None)
        }
    }
}
