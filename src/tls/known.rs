//! `known_servers`: one `host:port SHA256:<hex>` line per server a user chose to trust,
//! as SSH's known_hosts. Read on every connection, appended on first use.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

/// What the file says about a server and the fingerprint it presented.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Never seen.
    Unknown,
    /// Seen, with this very certificate.
    Same,
    /// Seen with another certificate, recorded at 1-based `line`.
    Changed { was: String, line: usize },
}

/// The file at one path (which need not exist yet).
pub struct KnownServers {
    path: PathBuf,
}

impl KnownServers {
    pub fn new(path: PathBuf) -> KnownServers {
        KnownServers { path }
    }

    /// The default path: `$XDG_CONFIG_HOME/chinwag/known_servers`, else
    /// `~/.config/chinwag/known_servers`.
    pub fn default_path() -> Option<PathBuf> {
        let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
        };
        Some(base.join("chinwag").join("known_servers"))
    }

    /// The entry for `server`, compared with `got`. An unreadable file is as if empty,
    /// so a first use asks again rather than failing.
    pub fn lookup(&self, server: &str, got: &str) -> Lookup {
        let text = fs::read_to_string(&self.path).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            let mut words = line.split_whitespace();
            if words.next() != Some(server) {
                continue;
            }
            let was = words.next().unwrap_or("").to_string();
            if was.eq_ignore_ascii_case(got) {
                return Lookup::Same;
            }
            return Lookup::Changed { was, line: i + 1 };
        }
        Lookup::Unknown
    }

    /// Remembers `server` as presenting `fingerprint`.
    pub fn add(&self, server: &str, fingerprint: &str) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)?;
        file.write_all(format!("{server} {fingerprint}\n").as_bytes())?;
        file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_tells_a_changed_certificate_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let known = KnownServers::new(dir.path().join("sub/known_servers"));
        assert_eq!(known.lookup("h:1", "SHA256:aa"), Lookup::Unknown);
        known.add("h:1", "SHA256:aa").unwrap();
        known.add("h:2", "SHA256:bb").unwrap();
        assert_eq!(known.lookup("h:1", "SHA256:AA"), Lookup::Same);
        assert_eq!(
            known.lookup("h:2", "SHA256:cc"),
            Lookup::Changed {
                was: "SHA256:bb".into(),
                line: 2
            }
        );
        assert_eq!(known.lookup("h:3", "SHA256:aa"), Lookup::Unknown);
    }
}
