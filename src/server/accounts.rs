//! Accounts: the credentials file, the name rules, and the lockout rule.
//!
//! The credentials file is read once at start-up (a malformed line stops the server with
//! its line number) and only ever appended to afterwards (sign-ups), with an fsync before
//! the new user is welcomed so an acknowledged sign-up survives a crash. Lockout is a pure
//! function of `now`, so it is tested without sleeping; the timer thread lifts expired
//! locks.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Characters allowed in usernames and passwords (besides letters and digits).
const NAME_SYMBOLS: &str = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/";

/// 1 to 32 characters from A-Z a-z 0-9 and [`NAME_SYMBOLS`].
pub fn valid_credential(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || NAME_SYMBOLS.contains(c))
}

/// One account's login state.
#[derive(Debug, Clone)]
pub struct Account {
    pub password: String,
    /// Consecutive wrong passwords since the last success or lockout.
    pub failures: u32,
    pub locked_until: Option<Instant>,
}

impl Account {
    pub fn new(password: String) -> Account {
        Account {
            password,
            failures: 0,
            locked_until: None,
        }
    }

    pub fn is_locked(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    /// Counts a wrong password; returns true when this one locks the account.
    pub fn record_failure(&mut self, now: Instant, attempts: u32, block: Duration) -> bool {
        self.failures += 1;
        if self.failures >= attempts {
            self.failures = 0;
            self.locked_until = Some(now + block);
            true
        } else {
            false
        }
    }

    pub fn record_success(&mut self) {
        self.failures = 0;
    }

    /// Lifts an expired lock; returns true if one was lifted.
    pub fn expire(&mut self, now: Instant) -> bool {
        if self.locked_until.is_some_and(|until| now >= until) {
            self.locked_until = None;
            return true;
        }
        false
    }

    /// Compares in constant time for equal-length inputs.
    pub fn password_matches(&self, given: &str) -> bool {
        let (a, b) = (self.password.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Reads `username password` lines; creates the file empty if missing.
/// Blank lines are skipped; trailing white space (as in the tutor's own file) is ignored.
pub fn load(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            String::new()
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let parsed = line
            .split_once(' ')
            .filter(|(u, p)| valid_credential(u) && valid_credential(p));
        match parsed {
            Some((u, p)) => out.push((u.to_string(), p.to_string())),
            None => {
                return Err(format!(
                    "{} line {}: expected `username password` (1 to 32 allowed characters each, one space between)",
                    path.display(),
                    i + 1
                ))
            }
        }
    }
    Ok(out)
}

/// Appends one account and syncs it to disk, starting a new line if the file lacks a
/// final newline.
pub fn append(path: &Path, user: &str, password: &str) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let mut line = String::new();
    if f.metadata()?.len() > 0 {
        f.seek(SeekFrom::End(-1))?;
        let mut last = [0u8; 1];
        f.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.push('\n');
        }
    }
    line.push_str(&format!("{user} {password}\n"));
    f.write_all(line.as_bytes())?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_after_attempts_and_lifted_after_block() {
        let t0 = Instant::now();
        let block = Duration::from_secs(10);
        let mut a = Account::new("wise".into());
        assert!(!a.record_failure(t0, 3, block));
        assert!(!a.record_failure(t0, 3, block));
        assert!(a.record_failure(t0, 3, block));
        assert!(a.is_locked(t0 + Duration::from_secs(9)));
        assert!(!a.expire(t0 + Duration::from_secs(9)));
        assert!(a.expire(t0 + block));
        assert!(!a.is_locked(t0 + block));
        assert_eq!(a.failures, 0);
    }

    #[test]
    fn success_resets_failures() {
        let t0 = Instant::now();
        let mut a = Account::new("wise".into());
        a.record_failure(t0, 3, Duration::from_secs(1));
        a.record_success();
        assert!(!a.record_failure(t0, 2, Duration::from_secs(1)));
    }

    #[test]
    fn credential_rules() {
        assert!(valid_credential("darkside(forever%"));
        assert!(valid_credential("Obi-wan"));
        assert!(!valid_credential(""));
        assert!(!valid_credential("has space"));
        assert!(!valid_credential(&"a".repeat(33)));
        assert!(!valid_credential("é"));
    }

    #[test]
    fn load_reports_the_malformed_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.txt");
        std::fs::write(
            &p,
            "hans indiana#jones\nbobafett mandalorian666 \n\nbroken\n",
        )
        .unwrap();
        let err = load(&p).unwrap_err();
        assert!(err.contains("line 4"), "{err}");
        std::fs::write(&p, "hans indiana#jones\nbobafett mandalorian666 \n").unwrap();
        assert_eq!(load(&p).unwrap().len(), 2);
    }

    #[test]
    fn append_adds_a_newline_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.txt");
        std::fs::write(&p, "hans solo").unwrap();
        append(&p, "jaba", "longtongue").unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "hans solo\njaba longtongue\n"
        );
    }

    #[test]
    fn missing_file_is_created_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("new.txt");
        assert!(load(&p).unwrap().is_empty());
        assert!(p.exists());
    }
}
