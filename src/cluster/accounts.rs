//! Accounts, lockouts, blocks and the offline queue in Redis.
//!
//! Sign-up is `HSETNX`: of two nodes signing up one name at once, exactly one wins.
//! Failed logins count in one Lua script per attempt, so every node's failures add up
//! and the lockout (a key with a TTL) holds on every node until Redis expires it.

use super::{key, RedisStore, StoreError};
pub use crate::server::store::Failure;
use crate::server::store::Queued;
use redis::Script;
use std::time::Duration;

/// Sign-up: the account, and its place in the order credentials.txt lists them.
const ADD: &str = r"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1
";

const FAIL: &str = r"
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local f = redis.call('INCR', KEYS[1])
if f >= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
  return 0
end
return tonumber(ARGV[1]) - f
";

const SUCCEEDED: &str = r"
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('DEL', KEYS[1])
return 1
";

impl RedisStore {
    /// Adds an account unless the name is taken; true if it was added.
    pub fn add_account(&self, name: &str, secret: &str) -> Result<bool, StoreError> {
        let added: i64 = self.with(|c| {
            Script::new(ADD)
                .key(key(&["accounts"]))
                .key(key(&["accounts_order"]))
                .arg(name)
                .arg(secret)
                .invoke(c)
        })?;
        Ok(added == 1)
    }

    /// Whether `name` has an account.
    pub fn account_exists(&self, name: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            redis::cmd("HEXISTS")
                .arg(key(&["accounts"]))
                .arg(name)
                .query(c)
        })
    }

    /// The stored password or hash of `name`.
    pub fn secret(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            redis::cmd("HGET")
                .arg(key(&["accounts"]))
                .arg(name)
                .query(c)
        })
    }

    /// Every account in the order they were added, as a single server's
    /// credentials.txt has them (for `export`); any without a place in that order (added
    /// before it was kept) follow, sorted by name.
    pub fn accounts(&self) -> Result<Vec<(String, String)>, StoreError> {
        let all: std::collections::HashMap<String, String> =
            self.with(|c| redis::cmd("HGETALL").arg(key(&["accounts"])).query(c))?;
        let order: Vec<String> = self.with(|c| {
            redis::cmd("LRANGE")
                .arg(key(&["accounts_order"]))
                .arg(0)
                .arg(-1)
                .query(c)
        })?;
        let mut placed = std::collections::HashSet::new();
        let mut out: Vec<(String, String)> = order
            .into_iter()
            .filter_map(|n| Some((all.get(&n)?.clone(), n)))
            .filter(|(_, n)| placed.insert(n.clone()))
            .map(|(secret, n)| (n, secret))
            .collect();
        let mut rest: Vec<(String, String)> = all
            .into_iter()
            .filter(|(n, _)| !placed.contains(n))
            .collect();
        rest.sort();
        out.extend(rest);
        Ok(out)
    }

    /// Counts a failed password for `name` against `attempts`, locking for `block`.
    pub fn login_failed(
        &self,
        name: &str,
        attempts: u32,
        block: Duration,
    ) -> Result<Failure, StoreError> {
        let left: i64 = self.with(|c| {
            Script::new(FAIL)
                .key(key(&["fails", name]))
                .key(key(&["locked", name]))
                .arg(attempts)
                .arg(block.as_millis().max(1) as u64)
                .invoke(c)
        })?;
        Ok(match left {
            -1 => Failure::Blocked,
            0 => Failure::NowBlocked,
            n => Failure::TryAgain(n as u32),
        })
    }

    /// Whether `name` is locked out now.
    pub fn is_locked(&self, name: &str) -> Result<bool, StoreError> {
        self.with(|c| redis::cmd("EXISTS").arg(key(&["locked", name])).query(c))
    }

    /// The stored password of `name` and whether it is locked, in one round trip.
    pub fn login_record(&self, name: &str) -> Result<(Option<String>, bool), StoreError> {
        self.with(|c| {
            redis::pipe()
                .cmd("HGET")
                .arg(key(&["accounts"]))
                .arg(name)
                .cmd("EXISTS")
                .arg(key(&["locked", name]))
                .query(c)
        })
    }

    /// A right password resets the failure count; false if the account is locked (the
    /// lockout landed, from any node, while the password was being checked).
    pub fn login_succeeded(&self, name: &str) -> Result<bool, StoreError> {
        let ok: i64 = self.with(|c| {
            Script::new(SUCCEEDED)
                .key(key(&["fails", name]))
                .key(key(&["locked", name]))
                .invoke(c)
        })?;
        Ok(ok == 1)
    }

    /// `who` blocks (or, with `on` false, unblocks) `whom`. Every pair is one member of
    /// one set (`who whom`: names hold no spaces), so loading them all is one call.
    pub fn set_block(&self, who: &str, whom: &str, on: bool) -> Result<(), StoreError> {
        let verb = if on { "SADD" } else { "SREM" };
        self.with(|c| {
            redis::cmd(verb)
                .arg(key(&["blocks"]))
                .arg(block_member(who, whom))
                .exec(c)
        })
    }

    /// What a direct message from `from` checks about `to`, in one round trip: whether
    /// `to` has an account, has messages waiting, and has blocked `from`.
    pub fn recipient(&self, to: &str, from: &str) -> Result<(bool, bool, bool), StoreError> {
        self.with(|c| {
            redis::pipe()
                .cmd("HEXISTS")
                .arg(key(&["accounts"]))
                .arg(to)
                .cmd("EXISTS")
                .arg(key(&["offline", to]))
                .cmd("SISMEMBER")
                .arg(key(&["blocks"]))
                .arg(block_member(to, from))
                .query(c)
        })
    }

    /// For each of `whos`, whether they have blocked `whom` (one call).
    pub fn blocked_among(&self, whos: &[&str], whom: &str) -> Result<Vec<bool>, StoreError> {
        if whos.is_empty() {
            return Ok(Vec::new());
        }
        let pairs: Vec<String> = whos.iter().map(|who| block_member(who, whom)).collect();
        self.with(|c| {
            redis::cmd("SMISMEMBER")
                .arg(key(&["blocks"]))
                .arg(&pairs)
                .query(c)
        })
    }

    /// Every (blocker, blocked) pair, sorted.
    pub fn all_blocks(&self) -> Result<Vec<(String, String)>, StoreError> {
        let pairs: Vec<String> =
            self.with(|c| redis::cmd("SMEMBERS").arg(key(&["blocks"])).query(c))?;
        let mut pairs: Vec<(String, String)> = pairs
            .iter()
            .filter_map(|p| p.split_once(' '))
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        pairs.sort();
        Ok(pairs)
    }

    /// Queues `line` for `to`, who is offline everywhere, sent at `sent` (Unix seconds).
    pub fn queue_offline(&self, to: &str, line: &str, sent: i64) -> Result<(), StoreError> {
        self.with(|c| {
            redis::cmd("RPUSH")
                .arg(key(&["offline", to]))
                .arg(offline_entry(line, sent))
                .exec(c)
        })
    }

    /// Whether anything waits for `to`.
    pub fn has_offline(&self, to: &str) -> Result<bool, StoreError> {
        self.with(|c| redis::cmd("EXISTS").arg(key(&["offline", to])).query(c))
    }

    /// The oldest `max` messages waiting for `to`, oldest first. They stay queued until
    /// [`Self::delivered_offline`].
    pub fn pending_offline(&self, to: &str, max: usize) -> Result<Vec<Queued>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let entries: Vec<String> = self.with(|c| {
            redis::cmd("LRANGE")
                .arg(key(&["offline", to]))
                .arg(0)
                .arg(max - 1)
                .query(c)
        })?;
        Ok(entries.into_iter().map(read_offline_entry).collect())
    }

    /// The first `n` queued lines for `to` were sent: drop them (and only them, so a line
    /// queued meanwhile stays).
    pub fn delivered_offline(&self, to: &str, n: usize) -> Result<(), StoreError> {
        self.with(|c| {
            redis::cmd("LTRIM")
                .arg(key(&["offline", to]))
                .arg(n)
                .arg(-1)
                .exec(c)
        })
    }
}

/// `who` blocked `whom`, as a member of the blocks set (`all_blocks` splits it back).
fn block_member(who: &str, whom: &str) -> String {
    format!("{who} {whom}")
}

/// A queued message as Redis keeps it: `SECS LINE`, the send time (Unix seconds) first.
fn offline_entry(line: &str, sent: i64) -> String {
    format!("{sent} {line}")
}

/// Reads [`offline_entry`]. An entry queued before times were kept is the bare line,
/// `NAME: TEXT`: its first word ends with `:`, so it never reads as a time.
fn read_offline_entry(entry: String) -> Queued {
    let timed = entry
        .split_once(' ')
        .filter(|(secs, _)| !secs.is_empty() && secs.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|(secs, line)| Some(Queued::new(line, Some(secs.parse().ok()?))));
    timed.unwrap_or_else(|| Queued::new(entry, None))
}

/// The login throttle across nodes: one failed password from an address, kept for
/// `window` (a sorted set per address, scored by time); true if the address has used
/// up `limit` in the window, counting this one's nodes and every other's.
const THROTTLE: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('ZCARD', KEYS[1])
";

impl RedisStore {
    /// Failed passwords from `ip` in the last `window` on every node, after counting one
    /// more when `failed` (`member` tells it apart from others at the same instant).
    pub fn address_failures(
        &self,
        ip: std::net::IpAddr,
        (now_ms, window): (i64, Duration),
        failed: Option<&str>,
    ) -> Result<u64, StoreError> {
        self.with(|c| {
            Script::new(THROTTLE)
                .key(key(&["throttle", &ip.to_string()]))
                .arg(now_ms)
                .arg(window.as_millis() as u64)
                .arg(failed.unwrap_or(""))
                .arg(if failed.is_some() { "1" } else { "0" })
                .invoke(c)
        })
    }
}

#[cfg(test)]
#[path = "accounts_tests.rs"]
mod tests;
