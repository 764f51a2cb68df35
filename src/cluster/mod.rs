//! The cluster's Redis side (BEHAVIOUR §7): the store every node shares and the bus that
//! carries lines between nodes, in the way Centrifugo's Redis engine splits into a broker
//! (pub/sub) and a presence manager (leases with expiry).
//!
//! - [`RedisStore`]: accounts and lockouts ([`accounts`]), blocks and the offline queue,
//!   presence leases per node ([`presence`]), and the broadcast and room logs with their
//!   gapless numbering ([`logs`]). Every operation that must be atomic across nodes is
//!   one command or one Lua script: sign-up (`HSETNX`), lockout counting, claiming a
//!   user's login (`SET NX PX`, renewed by the node's heartbeat), numbering together with
//!   the append.
//! - [`forum`]: threads as their file text, changed by compare-and-set.
//! - [`export`]: the cluster's data written out as a single server's files.
//! - [`userlog`]: userlog.txt in the shared DATA_DIR, listing every node's users.
//! - [`bus`]: one `PUBLISH` per message, one subscriber thread per node that hands what
//!   arrives to the node's own fan-out, so a broadcast costs O(nodes) Redis operations.
//!
//! Keys are `chinwag:<format>:...`; `chinwag:format` says which format the data is in,
//! and a node refuses data of a format it does not know. Every call has a timeout, so a
//! paused or unreachable Redis gives [`StoreError::Unavailable`] instead of a hang.
//!
//! - [`backend`]: these behind the server's seams (`server::store::Store`, the broker
//!   and the presence manager of `server::delivery`), which `server::node` wires in.

pub mod accounts;
pub mod backend;
pub mod bus;
pub mod export;
pub mod forum;
pub mod logs;
pub mod presence;
pub mod userlog;

/// The integration tests' redis-server, shared rather than copied.
#[cfg(test)]
#[path = "../../tests/common/redis_server.rs"]
pub(crate) mod testing;

use parking_lot::Mutex;
use redis::{Client, Connection, RedisResult};
use std::fmt;
use std::time::Duration;

/// The data format this build reads and writes.
pub const FORMAT: u32 = 1;

/// How long one Redis call may take before the node calls Redis unavailable.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Redis could not be reached or did not answer in time.
    Unavailable(String),
    /// Redis holds data in a format this node does not know.
    Format { found: String },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable(why) => write!(f, "Redis is unavailable: {why}"),
            StoreError::Format { found } => write!(
                f,
                "Redis holds chinwag data of format {found}; this node knows format {FORMAT}"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// The shared store: a client and a few pooled connections.
pub struct RedisStore {
    client: Client,
    idle: Mutex<Vec<Connection>>,
    /// How long one call may take ([`CALL_TIMEOUT`] unless opened with another).
    timeout: Duration,
}

impl RedisStore {
    /// Connects to `url` (`redis://HOST:PORT[/DB]`) and checks (or sets) the data format.
    pub fn open(url: &str) -> Result<RedisStore, StoreError> {
        RedisStore::open_with(url, CALL_TIMEOUT)
    }

    /// As [`RedisStore::open`], with calls that may take `timeout` each.
    pub fn open_with(url: &str, timeout: Duration) -> Result<RedisStore, StoreError> {
        let client = Client::open(url).map_err(StoreError::from)?;
        let store = RedisStore {
            client,
            idle: Mutex::new(Vec::new()),
            timeout,
        };
        let found: String = store.with(|c| {
            let key = format_key();
            redis::cmd("SET").arg(&key).arg(FORMAT).arg("NX").exec(c)?;
            redis::cmd("GET").arg(&key).query(c)
        })?;
        if found != FORMAT.to_string() {
            return Err(StoreError::Format { found });
        }
        Ok(store)
    }

    /// Runs `f` on a pooled connection (a new one if none is idle). A connection that
    /// failed is dropped rather than returned, so the next call reconnects. An idle
    /// connection Redis had closed (it restarted) fails at once on its next use: then
    /// every idle connection is dropped (they all went with it) and `f` runs once more on
    /// a new one, so a restart costs no request an error.
    pub fn with<T>(
        &self,
        mut f: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().pop();
        let reused = pooled.is_some();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = match f(&mut conn) {
            Err(e) if reused && e.is_connection_dropped() && !e.is_timeout() => {
                self.idle.lock().clear();
                conn = self.connect()?;
                f(&mut conn)
            }
            result => result,
        };
        if result.is_ok() {
            self.idle.lock().push(conn);
        }
        Ok(result?)
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let conn = self.client.get_connection_with_timeout(self.timeout)?;
        conn.set_read_timeout(Some(self.timeout))?;
        conn.set_write_timeout(Some(self.timeout))?;
        Ok(conn)
    }

    /// How long one call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The client, for the bus's subscriber connection.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }
}

fn format_key() -> String {
    "chinwag:format".to_string()
}

/// A data key: `chinwag:<format>:<parts joined by ':'>`.
pub(crate) fn key(parts: &[&str]) -> String {
    format!("chinwag:{FORMAT}:{}", parts.join(":"))
}

#[cfg(test)]
mod tests {
    use super::testing::RedisServer;
    use super::*;

    #[test]
    fn a_node_refuses_data_of_an_unknown_format() {
        let redis = RedisServer::start();
        RedisStore::open(&redis.url()).expect("a fresh Redis takes our format");
        RedisStore::open(&redis.url()).expect("and keeps it");
        redis.command(&["SET", "chinwag:format", "7"]);
        let err = RedisStore::open(&redis.url()).err();
        assert_eq!(err, Some(StoreError::Format { found: "7".into() }));
    }

    #[test]
    fn an_unreachable_redis_is_unavailable_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("redis+unix://{}", dir.path().join("none.sock").display());
        let err = RedisStore::open(&url).err();
        assert!(matches!(err, Some(StoreError::Unavailable(_))), "{err:?}");
    }
}
