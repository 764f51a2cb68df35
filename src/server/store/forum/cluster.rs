//! The forum of a cluster (BEHAVIOUR §7): threads in Redis, each kept as its thread
//! file's exact text (`cluster::forum`) and changed by compare-and-set, so every node
//! sees one forum and two nodes changing one thread at once both land; upload bodies
//! are files in DATA_DIR/uploads, which the nodes share.
//!
//! Nothing is cached: every read asks Redis. An upload's name is reserved on this node
//! while its data arrives, and on the others by the lock its temp file holds in the
//! shared folder (a lock a dead node held is gone with it); the body is linked into place only if no file
//! of that name is there (`hard_link` fails on an existing name), so two nodes uploading
//! one name at once cannot overwrite each other, and the upload is recorded in its
//! thread only once the body is in place.

use super::thread::{one_line, Entry, Thread};
use super::upload::{Target, Upload, UploadHome};
use super::{check_names, check_user, disk, unique_suffix, ForumError};
use crate::cluster::{RedisStore, StoreError};
use crate::server::store::{files, ForumStore};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The forum on a cluster's Redis and a shared uploads folder.
pub struct RedisForum {
    home: Arc<Home>,
}

struct Home {
    redis: Arc<RedisStore>,
    uploads_dir: PathBuf,
    max_upload: u64,
    /// (title, file) being uploaded through this node.
    reserved: Mutex<HashSet<(String, String)>>,
}

fn unavailable(e: StoreError) -> ForumError {
    ForumError::Io(io::Error::other(e.to_string()))
}

impl RedisForum {
    /// The forum of `redis`, with upload bodies under `data_dir/uploads`.
    pub fn open(redis: Arc<RedisStore>, data_dir: &Path, max_upload: u64) -> io::Result<Self> {
        let uploads_dir = data_dir.join("uploads");
        files::create_dir(&uploads_dir)?;
        let home = Home {
            redis,
            uploads_dir,
            max_upload,
            reserved: Mutex::new(HashSet::new()),
        };
        Ok(RedisForum {
            home: Arc::new(home),
        })
    }

    fn thread(&self, title: &str) -> Result<Thread, ForumError> {
        self.home.thread(title)
    }

    /// Applies `change` to thread `title` by compare-and-set; its answer.
    fn update<T>(
        &self,
        title: &str,
        change: impl FnMut(&mut Thread) -> Result<T, ForumError>,
    ) -> Result<T, ForumError> {
        self.home.update(title, change)
    }
}

impl Home {
    fn thread(&self, title: &str) -> Result<Thread, ForumError> {
        let text = self.redis.thread_text(title).map_err(unavailable)?;
        let text = text.ok_or(ForumError::NoThread)?;
        Thread::parse(title, &text, 0).ok_or(ForumError::NoThread)
    }

    fn update<T>(
        &self,
        title: &str,
        mut change: impl FnMut(&mut Thread) -> Result<T, ForumError>,
    ) -> Result<T, ForumError> {
        let mut answer = None;
        let apply = |old: &str| {
            let mut thread = Thread::parse(title, old, 0).ok_or(ForumError::NoThread)?;
            answer = Some(change(&mut thread)?);
            Ok(thread.render_file())
        };
        match self
            .redis
            .update_thread(title, apply)
            .map_err(unavailable)?
        {
            None => Err(ForumError::NoThread),
            Some(Err(e)) => Err(e),
            Some(Ok(())) => answer.ok_or(ForumError::NoThread),
        }
    }
}

impl UploadHome for Home {
    fn publish(&self, target: &Target, temp: &Path) -> Result<(), ForumError> {
        let dir = self.uploads_dir.join(&target.title);
        let dest = dir.join(&target.file);
        fs::hard_link(temp, &dest).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => ForumError::FileExists,
            // The thread was removed (its uploads folder, the temp file in it, moved
            // away) while the data came; maybe made again since, but not this one.
            io::ErrorKind::NotFound => ForumError::NoThread,
            _ => ForumError::Io(e),
        })?;
        let _ = fs::remove_file(temp);
        let recorded = disk::sync_dir(&dir).map_err(ForumError::Io).and_then(|()| {
            self.update(&target.title, |thread| {
                if thread.has_file(&target.file) {
                    return Err(ForumError::FileExists);
                }
                thread.entries.push(Entry::Upload {
                    user: target.user.clone(),
                    file: target.file.clone(),
                });
                Ok(())
            })
        });
        if recorded.is_err() {
            let _ = fs::remove_file(&dest);
        }
        self.release(target);
        recorded
    }

    fn release(&self, target: &Target) {
        let key = (target.title.clone(), target.file.clone());
        self.reserved.lock().remove(&key);
    }
}

impl ForumStore for RedisForum {
    fn create(&self, title: &str, user: &str) -> Result<(), ForumError> {
        check_names(&[title])?;
        check_user(user)?;
        match self.home.redis.create_thread(title, user) {
            Ok(true) => Ok(()),
            Ok(false) => Err(ForumError::ThreadExists),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn post(&self, title: &str, user: &str, text: &str) -> Result<u64, ForumError> {
        check_names(&[title])?;
        check_user(user)?;
        let text = one_line(text);
        self.update(title, |t| Ok(t.add_post(user, &text)))
    }

    fn delete(&self, title: &str, n: u64, user: &str) -> Result<(), ForumError> {
        check_names(&[title])?;
        check_user(user)?;
        self.update(title, |t| t.delete_post(n, user))
    }

    fn edit(&self, title: &str, n: u64, user: &str, text: &str) -> Result<(), ForumError> {
        check_names(&[title])?;
        check_user(user)?;
        let text = one_line(text);
        self.update(title, |t| t.edit_post(n, user, &text))
    }

    fn list(&self) -> Result<Vec<String>, ForumError> {
        self.home.redis.thread_titles().map_err(unavailable)
    }

    fn read(&self, title: &str) -> Result<Vec<String>, ForumError> {
        check_names(&[title])?;
        Ok(self.thread(title)?.render_entries())
    }

    fn begin_upload(
        &self,
        title: &str,
        user: &str,
        file: &str,
        size: u64,
    ) -> Result<Upload, ForumError> {
        check_names(&[title, file])?;
        check_user(user)?;
        if self.thread(title)?.has_file(file) {
            return Err(ForumError::FileExists);
        }
        if size > self.home.max_upload {
            return Err(ForumError::TooLarge);
        }
        let key = (title.to_string(), file.to_string());
        if !self.home.reserved.lock().insert(key.clone()) {
            return Err(ForumError::FileExists);
        }
        let dir = self.home.uploads_dir.join(title);
        let opened = match uploading_elsewhere(&dir, file) {
            Ok(true) => Err(ForumError::FileExists),
            Ok(false) => new_part(&dir, file).map_err(ForumError::Io),
            Err(e) => Err(ForumError::Io(e)),
        };
        let (temp, out) = opened.inspect_err(|_| {
            self.home.reserved.lock().remove(&key);
        })?;
        let target = Target {
            title: title.to_string(),
            user: user.to_string(),
            file: file.to_string(),
            generation: 0,
        };
        let home = Arc::clone(&self.home) as Arc<dyn UploadHome>;
        Ok(Upload::new(home, target, size, temp, out))
    }

    fn open_download(&self, title: &str, file: &str) -> Result<(File, u64), ForumError> {
        check_names(&[title, file])?;
        if !self.thread(title)?.has_file(file) {
            return Err(ForumError::NoFile);
        }
        super::open_upload(&self.home.uploads_dir.join(title), file)
    }

    fn remove(&self, title: &str, user: &str) -> Result<(), ForumError> {
        check_names(&[title])?;
        check_user(user)?;
        if self.thread(title)?.creator != user {
            return Err(ForumError::NotCreator);
        }
        if !self.home.redis.remove_thread(title).map_err(unavailable)? {
            return Err(ForumError::NoThread);
        }
        if let Some(trash) = super::move_to_trash(&self.home.uploads_dir, title)? {
            if let Err(e) = disk::remove_tree_if_exists(&trash) {
                log::warn!("could not delete {}: {e}", trash.display());
            }
        }
        Ok(())
    }

    fn wipe(&self) -> Result<(), ForumError> {
        for title in self.list()? {
            self.home.redis.remove_thread(&title).map_err(unavailable)?;
        }
        Ok(disk::empty_dir(&self.home.uploads_dir)?)
    }
}

/// The temp file of an upload to `dir`/`file`, locked (`flock`) for as long as the
/// upload holds it open, so other nodes see the name is taken.
fn new_part(dir: &Path, file: &str) -> io::Result<(PathBuf, File)> {
    files::create_dir(dir)?;
    let temp = dir.join(format!(".{file}.part-{}", unique_suffix()));
    let out = File::create_new(&temp)?;
    out.lock()?;
    Ok((temp, out))
}

/// Whether another node is uploading `file` into `dir` (the nodes share it): a temp
/// file of that name that is locked. One nobody holds was left by a node that died
/// (its locks went with it), and is removed.
fn uploading_elsewhere(dir: &Path, file: &str) -> io::Result<bool> {
    let entries = match fs::read_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        found => found?,
    };
    let prefix = format!(".{file}.part-");
    for entry in entries {
        let path = entry?.path();
        let ours = path.file_name().and_then(|n| n.to_str());
        if !ours.is_some_and(|n| n.starts_with(&prefix)) {
            continue;
        }
        let Ok(part) = File::open(&path) else {
            continue; // finished or dropped meanwhile
        };
        match part.try_lock() {
            Ok(()) => disk::remove_file_if_exists(&path)?,
            Err(fs::TryLockError::WouldBlock) => return Ok(true),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    Ok(false)
}
