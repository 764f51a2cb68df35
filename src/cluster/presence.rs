//! Who is logged in where, across nodes: a lease per user and a heartbeat per node.
//!
//! Claiming a login is `SET online:<user> <node> NX PX ttl` (so a user logged in on one
//! node is refused on every other), and the node records the user in its own hash with
//! the login time. Each node's heartbeat renews its key and its users' leases (and puts
//! back a lease that lapsed while Redis was paused or restarted); a node that dies stops renewing, and within the lease time any live node's [`reap`] (one
//! Lua script, so exactly one node reaps each dead node) frees its users and returns them,
//! for that node to announce `yoda logged out`.
//!
//! [`reap`]: RedisStore::reap_dead_nodes

use super::{key, RedisStore, StoreError};
use redis::Script;
use std::time::Duration;

const CLAIM: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[3]) then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
  return 1
end
return 0
";

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return 1
";

const HEARTBEAT: &str = r"
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
for _, user in ipairs(redis.call('HKEYS', KEYS[3])) do
  local lease = ARGV[3] .. user
  local holder = redis.call('GET', lease)
  if holder == ARGV[1] then redis.call('PEXPIRE', lease, ARGV[2])
  elseif not holder then redis.call('SET', lease, ARGV[1], 'PX', ARGV[2]) end
end
return 1
";

const REAP: &str = r"
local out = {}
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. node) == 0 then
    local users = redis.call('HKEYS', ARGV[1] .. node .. ':users')
    for _, user in ipairs(users) do
      local lease = ARGV[2] .. user
      if redis.call('GET', lease) == node then redis.call('DEL', lease) end
      redis.call('ZADD', KEYS[2], ARGV[3], user)
      table.insert(out, user)
    end
    redis.call('DEL', ARGV[1] .. node .. ':users')
    redis.call('SREM', KEYS[1], node)
  end
end
return out
";

/// Where `user` is logged in, and their record there, in one round trip.
const ONLINE: &str = r"
local node = redis.call('GET', KEYS[1])
if not node then return false end
local record = redis.call('HGET', ARGV[1] .. node .. ':users', ARGV[2])
if not record then return false end
return {node, record}
";

/// One logged-in user as the cluster sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Online {
    pub user: String,
    pub node: String,
    /// Unix milliseconds of the login.
    pub since_ms: i64,
    /// Where the user's client is, for `ATU` and peer-to-peer brokering.
    pub at: Where,
}

/// A logged-in client's address and the ports it listens on for peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Where {
    pub ip: std::net::IpAddr,
    pub udp_port: u16,
    pub p2p_port: u16,
}

impl Where {
    fn encode(&self, since_ms: i64) -> String {
        format!("{since_ms} {} {} {}", self.ip, self.udp_port, self.p2p_port)
    }
}

/// A node's record of one user: `since_ms ip udp_port p2p_port`.
fn decode(user: String, node: &str, value: &str) -> Option<Online> {
    let mut parts = value.split(' ');
    let since_ms = parts.next()?.parse().ok()?;
    let at = Where {
        ip: parts.next()?.parse().ok()?,
        udp_port: parts.next()?.parse().ok()?,
        p2p_port: parts.next()?.parse().ok()?,
    };
    Some(Online {
        user,
        node: node.to_string(),
        since_ms,
        at,
    })
}

fn node_key(node: &str) -> String {
    key(&["node", node])
}

fn users_key(node: &str) -> String {
    key(&["node", node, "users"])
}

fn ms(d: Duration) -> u64 {
    d.as_millis().max(1) as u64
}

impl RedisStore {
    /// Claims `user`'s login for `node` at unix ms `now_ms`, from `at`; false if logged
    /// in anywhere.
    pub fn claim_login(
        &self,
        user: &str,
        node: &str,
        (now_ms, at): (i64, &Where),
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let claimed: i64 = self.with(|c| {
            Script::new(CLAIM)
                .key(key(&["online", user]))
                .key(users_key(node))
                .arg(node)
                .arg(user)
                .arg(ms(lease))
                .arg(at.encode(now_ms))
                .invoke(c)
        })?;
        Ok(claimed == 1)
    }

    /// `user` logged out of `node` at unix ms `now_ms`.
    pub fn release_login(&self, user: &str, node: &str, now_ms: i64) -> Result<(), StoreError> {
        self.with(|c| {
            Script::new(RELEASE)
                .key(key(&["online", user]))
                .key(users_key(node))
                .key(key(&["last_seen"]))
                .arg(node)
                .arg(user)
                .arg(now_ms)
                .invoke::<i64>(c)
                .map(drop)
        })
    }

    /// Says `node` is alive for `lease` more and renews its users' leases as long.
    pub fn heartbeat(&self, node: &str, lease: Duration) -> Result<(), StoreError> {
        self.with(|c| {
            Script::new(HEARTBEAT)
                .key(node_key(node))
                .key(key(&["nodes"]))
                .key(users_key(node))
                .arg(node)
                .arg(ms(lease))
                .arg(key(&["online", ""]))
                .invoke::<i64>(c)
                .map(drop)
        })
    }

    /// Frees the users of every node whose heartbeat lapsed; those users, now logged out
    /// (at unix ms `now_ms`), for the caller to announce.
    pub fn reap_dead_nodes(&self, now_ms: i64) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            Script::new(REAP)
                .key(key(&["nodes"]))
                .key(key(&["last_seen"]))
                .arg(key(&["node", ""]))
                .arg(key(&["online", ""]))
                .arg(now_ms)
                .invoke(c)
        })
    }

    /// Everyone logged in on a live node, sorted by login time.
    pub fn online(&self) -> Result<Vec<Online>, StoreError> {
        let nodes: Vec<String> =
            self.with(|c| redis::cmd("SMEMBERS").arg(key(&["nodes"])).query(c))?;
        // Every node's users in one round trip.
        let mut pipe = redis::pipe();
        for node in &nodes {
            pipe.cmd("HGETALL").arg(users_key(node));
        }
        let hashes: Vec<Vec<(String, String)>> = match nodes.is_empty() {
            true => Vec::new(),
            false => self.with(|c| pipe.query(c))?,
        };
        let mut all = Vec::new();
        for (node, users) in nodes.iter().zip(hashes) {
            let found = users.into_iter().filter_map(|(u, v)| decode(u, node, &v));
            all.extend(found);
        }
        all.sort_by(|a, b| (a.since_ms, &a.user).cmp(&(b.since_ms, &b.user)));
        Ok(all)
    }

    /// Where `user` is logged in, if anywhere.
    pub fn online_user(&self, user: &str) -> Result<Option<Online>, StoreError> {
        let found: Option<(String, String)> = self.with(|c| {
            Script::new(ONLINE)
                .key(key(&["online", user]))
                .arg(key(&["node", ""]))
                .arg(user)
                .invoke(c)
        })?;
        Ok(found.and_then(|(node, v)| decode(user.to_string(), &node, &v)))
    }

    /// Users whose last logout was at unix ms `from_ms` or later, most recent first
    /// (for `whoelsesince`; someone logged in again is still listed).
    pub fn logged_out_since(&self, from_ms: i64) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            redis::cmd("ZREVRANGEBYSCORE")
                .arg(key(&["last_seen"]))
                .arg("+inf")
                .arg(from_ms)
                .query(c)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::RedisServer;
    use super::*;

    /// Long enough that a loaded machine does not let a live lease lapse mid-test.
    const LEASE: Duration = Duration::from_millis(400);
    const HERE: Where = Where {
        ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        udp_port: 7000,
        p2p_port: 7001,
    };

    #[test]
    fn a_login_is_claimed_once_and_released_by_its_node_only() {
        let redis = RedisServer::start();
        let store = RedisStore::open(&redis.url()).unwrap();
        store.heartbeat("a", LEASE).unwrap();
        store.heartbeat("b", LEASE).unwrap();
        assert!(store
            .claim_login("yoda", "a", (1_000, &HERE), LEASE)
            .unwrap());
        assert!(!store
            .claim_login("yoda", "b", (1_001, &HERE), LEASE)
            .unwrap());
        assert!(store
            .claim_login("hans", "b", (1_002, &HERE), LEASE)
            .unwrap());
        let names: Vec<_> = store
            .online()
            .unwrap()
            .into_iter()
            .map(|o| (o.user, o.node))
            .collect();
        assert_eq!(
            names,
            [("yoda".into(), "a".into()), ("hans".into(), "b".into())]
        );

        store.release_login("yoda", "b", 2_000).unwrap();
        assert!(
            !store
                .claim_login("yoda", "b", (2_001, &HERE), LEASE)
                .unwrap(),
            "b cannot free a's user"
        );
        store.release_login("yoda", "a", 2_002).unwrap();
        assert!(store
            .claim_login("yoda", "b", (2_003, &HERE), LEASE)
            .unwrap());
        assert_eq!(store.logged_out_since(2_001).unwrap(), ["yoda"]);
        store.release_login("hans", "b", 2_010).unwrap();
        assert_eq!(store.logged_out_since(2_001).unwrap(), ["hans", "yoda"]);
        let yoda = store.online_user("yoda").unwrap().unwrap();
        assert_eq!(
            (yoda.node.as_str(), yoda.since_ms, yoda.at),
            ("b", 2_003, HERE)
        );
        assert_eq!(store.online_user("hans").unwrap(), None);
    }

    #[test]
    fn a_dead_node_is_reaped_once_and_its_users_can_log_in_elsewhere() {
        let redis = RedisServer::start();
        let store = RedisStore::open(&redis.url()).unwrap();
        store.heartbeat("dead", LEASE).unwrap();
        assert!(store
            .claim_login("yoda", "dead", (1_000, &HERE), LEASE)
            .unwrap());
        assert!(
            store.reap_dead_nodes(1_500).unwrap().is_empty(),
            "still alive"
        );
        for _ in 0..5 {
            std::thread::sleep(LEASE / 4);
            store.heartbeat("live", LEASE).unwrap();
        }
        assert_eq!(store.reap_dead_nodes(2_000).unwrap(), ["yoda"]);
        assert!(
            store.reap_dead_nodes(2_001).unwrap().is_empty(),
            "reaped once"
        );
        assert!(store
            .claim_login("yoda", "live", (2_002, &HERE), LEASE)
            .unwrap());
        let nodes: Vec<_> = store
            .online()
            .unwrap()
            .into_iter()
            .map(|o| o.node)
            .collect();
        assert_eq!(nodes, ["live"]);
    }
}
