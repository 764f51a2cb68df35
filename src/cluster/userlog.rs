//! userlog.txt in a cluster (BEHAVIOUR §4 and §7): the nodes share DATA_DIR, so the file
//! lists every node's active users, rendered from the login leases in Redis in login
//! order. Nodes write it in turn under a lock on DATA_DIR/.userlog.lock: each node
//! rewrites it after its own logins and logouts reached Redis, and the last writer
//! reads Redis after every earlier change, so the file ends up listing all of them.

use super::{RedisStore, StoreError};
use chrono::{Local, TimeZone};
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::path::Path;

/// The file's text: `N; TIME; USER; IP; UDP_PORT` per user logged in on any node.
pub fn render(store: &RedisStore) -> Result<String, StoreError> {
    let mut out = String::new();
    for (i, o) in store.online()?.iter().enumerate() {
        let since = Local
            .timestamp_millis_opt(o.since_ms)
            .single()
            .unwrap_or_else(Local::now);
        let time = crate::timefmt::format(&since);
        let _ = writeln!(
            out,
            "{}; {time}; {}; {}; {}",
            i + 1,
            o.user,
            o.at.ip,
            o.at.udp_port
        );
    }
    Ok(out)
}

/// Rewrites `dir`/userlog.txt from Redis, holding the nodes' lock.
pub fn write(store: &RedisStore, dir: &Path) -> io::Result<()> {
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".userlog.lock"))?;
    lock.lock()?;
    let text = render(store).map_err(io::Error::other)?;
    let tmp = dir.join(".userlog.txt.tmp");
    crate::server::store::files::create_fresh(&tmp)?.write_all(text.as_bytes())?;
    crate::server::store::files::replace(&tmp, &dir.join("userlog.txt"))
    // The lock goes with the file handle.
}
