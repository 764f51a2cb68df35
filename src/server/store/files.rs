//! How the server touches files in DATA_DIR: appends that are whole lines or nothing, and
//! opens that never follow a symbolic link.
//!
//! An append that fails part-way (ENOSPC after a short write) is cut back to the last
//! whole line with `set_len`, so a later append never lands after half a record. Every
//! file under DATA_DIR is opened with `O_NOFOLLOW`, and directories under it are checked
//! not to be links before anything is created in them.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// A file that can be written and cut back to a length.
pub trait Tail: Write {
    fn cut(&mut self, len: u64) -> io::Result<()>;
}

impl Tail for &File {
    fn cut(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
}

/// Where an append-only file stands: the length known to end on a whole line, and
/// whether an earlier rollback failed (then the next append cuts back first).
#[derive(Debug, Default, Clone, Copy)]
pub struct End {
    pub len: u64,
    pub needs_repair: bool,
}

impl End {
    pub fn at(len: u64) -> End {
        End {
            len,
            needs_repair: false,
        }
    }

    /// Writes `line` (whole lines, newline included) at the end, or nothing: on failure
    /// the file is cut back to its last whole line.
    pub fn append(&mut self, mut file: impl Tail, line: &[u8]) -> io::Result<()> {
        if self.needs_repair {
            file.cut(self.len)?;
            self.needs_repair = false;
        }
        match file.write_all(line).and_then(|()| file.flush()) {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                if let Err(e2) = file.cut(self.len) {
                    log::error!("rollback of a failed append failed: {e2}");
                    self.needs_repair = true;
                }
                Err(e)
            }
        }
    }
}

/// Options that refuse to open a symbolic link (the last component; see [`check_dir`]
/// for the others).
pub fn no_follow() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.custom_flags(libc::O_NOFOLLOW);
    o
}

/// Opens an existing file for reading, refusing a symbolic link.
pub fn open_read(path: &Path) -> io::Result<File> {
    no_follow().read(true).open(path)
}

/// Creates `path` afresh for writing (a temporary file about to be renamed into place):
/// whatever was left at that name, a symbolic link included, is removed first, never
/// written through.
pub fn create_fresh(path: &Path) -> io::Result<File> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    no_follow().write(true).create_new(true).open(path)
}

/// Puts `new` in place of `path` at once, as `rename` does, for a file rewritten whole
/// and often (userlog.txt). It swaps the two names (RENAME_EXCHANGE) and removes the old
/// file: replacing a name makes ext4 start writing the new file's data back inside the
/// rename (auto_da_alloc), which was the most expensive step of a login. Where the
/// swap cannot be made (no file at `path` yet, or a file system without it), a rename.
pub fn replace(new: &Path, path: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, new, CWD, path, RenameFlags::EXCHANGE) {
        Ok(()) => std::fs::remove_file(new),
        Err(_) => std::fs::rename(new, path),
    }
}

/// Refuses `dir` if it is a symbolic link (or not a directory); a missing one is fine.
pub fn check_dir(dir: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is a symbolic link", dir.display()),
        )),
        Ok(m) if !m.is_dir() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a directory", dir.display()),
        )),
        _ => Ok(()),
    }
}

/// Creates `dir` (one level) unless it exists, refusing a symbolic link there.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    check_dir(dir)?;
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => check_dir(dir),
        other => other,
    }
}

/// Makes a file readable by the server's user only (credentials, the offline queue),
/// tightening it if it is looser.
pub fn private(file: &File) -> io::Result<()> {
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes `room` bytes, then fails like a full disk.
    struct Full<'a> {
        data: &'a mut Vec<u8>,
        room: usize,
    }

    impl Write for Full<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let n = buf.len().min(self.room);
            self.data.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Tail for Full<'_> {
        fn cut(&mut self, len: u64) -> io::Result<()> {
            self.data.truncate(len as usize);
            Ok(())
        }
    }

    #[test]
    fn a_short_write_is_cut_back_to_the_last_whole_line() {
        let mut data = b"one\n".to_vec();
        let mut end = End::at(4);
        let full = Full {
            data: &mut data,
            room: 3,
        };
        assert!(end.append(full, b"two two\n").is_err());
        assert_eq!(data, b"one\n");
        let roomy = Full {
            data: &mut data,
            room: 100,
        };
        end.append(roomy, b"three\n").unwrap();
        assert_eq!(data, b"one\nthree\n");
        assert_eq!(end.len, 10);
    }

    #[test]
    fn links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "secret").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open_read(&link).is_err());
        assert!(open_read(&target).is_ok());
        let dlink = dir.path().join("dlink");
        std::os::unix::fs::symlink(dir.path(), &dlink).unwrap();
        assert!(check_dir(&dlink).is_err());
        assert!(create_dir(&dlink).is_err());
        assert!(create_dir(&dir.path().join("fresh")).is_ok());
        assert!(check_dir(&dir.path().join("missing")).is_ok());
        let mut f = create_fresh(&link).unwrap();
        f.write_all(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret");
    }

    #[test]
    fn replace_puts_the_new_file_in_place_and_leaves_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let (new, path) = (dir.path().join(".new"), dir.path().join("userlog.txt"));
        std::fs::write(&new, "first\n").unwrap();
        replace(&new, &path).unwrap(); // nothing there yet: a rename
        std::fs::write(&new, "second\n").unwrap();
        replace(&new, &path).unwrap(); // swapped in, the old one removed
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["userlog.txt"]);
    }
}
