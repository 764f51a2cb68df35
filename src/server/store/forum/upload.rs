//! One file upload in flight.
//!
//! Data is streamed through a `BufWriter` into a hidden temp file
//! `uploads/TITLE/.FILE.part-<unique>` without holding the forum lock, so a
//! slow client never blocks other forum users and the whole file is never in
//! memory. Only [`Upload::finish`] with exactly the declared size publishes
//! the file; an upload dropped unfinished (a client that died mid-transfer)
//! removes its temp file and frees the reserved name.

use super::thread::{Entry, Thread};
use super::{disk, ForumError, Shared};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where an upload is going and who sends it.
pub(super) struct Target {
    pub title: String,
    pub user: String,
    pub file: String,
    /// Generation of the thread when the upload began.
    pub generation: u64,
}

/// Where a finished upload is recorded: the forum's own threads, or a cluster's.
pub(crate) trait UploadHome: Send + Sync {
    /// Moves the finished temp file into place and records the upload in its thread.
    fn publish(&self, target: &Target, temp: &Path) -> Result<(), ForumError>;
    /// Frees the name reserved for an upload that did not finish.
    fn release(&self, target: &Target);
}

/// An upload in progress, created by `Forum::begin_upload`.
pub struct Upload {
    shared: Arc<dyn UploadHome>,
    target: Target,
    size: u64,
    written: u64,
    temp: PathBuf,
    out: Option<BufWriter<File>>,
    done: bool,
}

impl Upload {
    /// Wraps a freshly created, reserved temp file.
    pub(super) fn new(
        shared: Arc<dyn UploadHome>,
        target: Target,
        size: u64,
        temp: PathBuf,
        out: File,
    ) -> Upload {
        Upload {
            shared,
            target,
            size,
            written: 0,
            temp,
            out: Some(BufWriter::new(out)),
            done: false,
        }
    }

    /// Bytes still expected before the upload is complete.
    pub fn remaining(&self) -> u64 {
        self.size - self.written
    }

    /// Appends `data`; fails with `TooLarge` (writing nothing) if it would
    /// exceed the declared size.
    pub fn write(&mut self, data: &[u8]) -> Result<(), ForumError> {
        if data.len() as u64 > self.remaining() {
            return Err(ForumError::TooLarge);
        }
        let out = self.out.as_mut().ok_or_else(closed)?;
        out.write_all(data)?;
        self.written += data.len() as u64;
        Ok(())
    }

    /// Publishes the file: requires exactly the declared size, fsyncs it,
    /// renames it into place and records `user uploaded FILE` in the thread.
    /// If the thread was removed meanwhile, the data is discarded (`NoThread`).
    pub fn finish(mut self) -> Result<(), ForumError> {
        if self.written != self.size {
            let msg = format!("upload ended after {} of {} bytes", self.written, self.size);
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg).into());
        }
        let out = self.out.take().ok_or_else(closed)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        // Kept open (and a cluster's lock on it held) until the file is in place.
        self.shared.publish(&self.target, &self.temp)?;
        drop(file);
        self.done = true;
        Ok(())
    }
}

/// The error for using an upload whose file was already closed.
fn closed() -> ForumError {
    ForumError::Io(io::Error::other("upload already closed"))
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        drop(self.out.take());
        if let Err(e) = disk::remove_file_if_exists(&self.temp) {
            log::warn!("could not remove {}: {e}", self.temp.display());
        }
        self.shared.release(&self.target);
    }
}

impl UploadHome for Shared {
    fn release(&self, target: &Target) {
        let key = (target.generation, target.file.clone());
        self.state.lock().reserved.remove(&key);
    }

    /// Under the lock: moves the finished temp file to its final name and
    /// appends the upload line to the thread, provided the same thread
    /// still exists. Releases the reservation on success.
    fn publish(&self, target: &Target, temp: &Path) -> Result<(), ForumError> {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let thread = state.threads.get_mut(&target.title);
        let Some(thread) = thread.filter(|t| t.generation == target.generation) else {
            return Err(ForumError::NoThread);
        };
        let dir = self.uploads_dir.join(&target.title);
        let dest = dir.join(&target.file);
        fs::rename(temp, &dest)?;
        let next = with_upload(thread, target);
        let saved = disk::sync_dir(&dir).and_then(|()| self.persist(&target.title, &next));
        if let Err(e) = saved {
            let _ = fs::remove_file(&dest);
            return Err(e.into());
        }
        *thread = next;
        state
            .reserved
            .remove(&(target.generation, target.file.clone()));
        Ok(())
    }
}

/// A copy of `thread` with the upload line for `target` appended.
fn with_upload(thread: &Thread, target: &Target) -> Thread {
    let mut next = thread.clone();
    next.entries.push(Entry::Upload {
        user: target.user.clone(),
        file: target.file.clone(),
    });
    next
}
