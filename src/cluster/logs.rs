//! The broadcast log and the room logs in Redis, and the rooms themselves.
//!
//! A log is a counter and a sorted set scored by the message's unix second. One Lua script
//! takes the next number and adds the entry, so numbers are gapless and unique however
//! many nodes append at once. Members start with the zero-padded number, so a member is
//! unique and `since` is one `ZRANGEBYSCORE` (O(log N + answer)), then put in number
//! order (a clock that stepped back can score a later number lower).

use super::{key, RedisStore, StoreError};
use crate::server::store::history::LogEntry;
use crate::server::store::Created;
use chrono::{Local, TimeZone};
use redis::Script;
use std::collections::BTreeSet;

const APPEND: &str = r"
local n = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], ARGV[1], string.format('%020d', n) .. ' ' .. ARGV[1] .. ' ' .. ARGV[2])
return n
";

/// KEYS: the room counter, the hash of member sets; ARGV: the key prefix, the member
/// set's signature, then the members in order. A negative answer is an existing room.
const CREATE_ROOM: &str = r"
local found = redis.call('HGET', KEYS[2], ARGV[2])
if found then return -tonumber(found) end
local id = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[2], id)
for i = 3, #ARGV do
  redis.call('RPUSH', ARGV[1] .. 'room:' .. id .. ':members', ARGV[i])
  redis.call('SADD', ARGV[1] .. 'user:' .. ARGV[i] .. ':rooms', id)
end
return id
";

/// Which log: the broadcasts (`messagelog.txt`) or one room's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    Broadcast,
    Room(u64),
}

impl Log {
    fn name(self) -> String {
        match self {
            Log::Broadcast => "broadcast".to_string(),
            Log::Room(id) => format!("room:{id}"),
        }
    }
}

fn parse(member: &str) -> Option<LogEntry> {
    let mut parts = member.splitn(4, ' ');
    let number = parts.next()?.parse().ok()?;
    let ts: i64 = parts.next()?.parse().ok()?;
    let user = parts.next()?.to_string();
    let text = parts.next().unwrap_or("").to_string();
    let time = Local.timestamp_opt(ts, 0).single()?;
    Some(LogEntry {
        number,
        time,
        user,
        text,
    })
}

impl RedisStore {
    /// Appends `user`'s `text` at unix second `ts`; its number in the log.
    pub fn append(&self, log: Log, ts: i64, user: &str, text: &str) -> Result<u64, StoreError> {
        let name = log.name();
        self.with(|c| {
            Script::new(APPEND)
                .key(key(&[&name, "next"]))
                .key(key(&[&name, "entries"]))
                .arg(ts)
                .arg(format!("{user} {text}"))
                .invoke(c)
        })
    }

    /// Entries strictly later than unix second `t`, in number order.
    pub fn since(&self, log: Log, t: i64) -> Result<Vec<LogEntry>, StoreError> {
        let name = log.name();
        let members: Vec<String> = self.with(|c| {
            redis::cmd("ZRANGEBYSCORE")
                .arg(key(&[&name, "entries"]))
                .arg(format!("({t}"))
                .arg("+inf")
                .query(c)
        })?;
        let mut entries: Vec<LogEntry> = members.iter().filter_map(|m| parse(m)).collect();
        entries.sort_by_key(|e| e.number);
        Ok(entries)
    }

    /// Every entry, in number order (for `export`).
    pub fn entries(&self, log: Log) -> Result<Vec<LogEntry>, StoreError> {
        self.since(log, i64::MIN)
    }

    /// The room of `members` (issuer first, repeats dropped): a new one, numbered from
    /// 1 across the cluster, or the one these members (in any order) have already.
    /// One script, so two nodes creating the same room at once make one.
    pub fn create_room(&self, members: &[String]) -> Result<Created, StoreError> {
        let mut seen = BTreeSet::new();
        let members: Vec<&String> = members.iter().filter(|m| seen.insert(*m)).collect();
        let signature: Vec<&str> = seen.iter().map(|m| m.as_str()).collect();
        let id: i64 = self.with(|c| {
            let script = Script::new(CREATE_ROOM);
            let mut call = script.key(key(&["rooms", "next"]));
            call.key(key(&["rooms", "by_members"]))
                .arg(key(&[""]))
                .arg(signature.join(" "));
            for m in &members {
                call.arg(m.as_str());
            }
            call.invoke(c)
        })?;
        Ok(match id {
            id if id < 0 => Created::Exists(id.unsigned_abs()),
            id => Created::New(id as u64),
        })
    }

    /// How many rooms were ever made (ids run from 1 to this).
    pub fn room_count(&self) -> Result<u64, StoreError> {
        let n: Option<u64> =
            self.with(|c| redis::cmd("GET").arg(key(&["rooms", "next"])).query(c))?;
        Ok(n.unwrap_or(0))
    }

    /// The members of room `id`, issuer first; `None` for a room that does not exist.
    pub fn room_members(&self, id: u64) -> Result<Option<Vec<String>>, StoreError> {
        let members_key = key(&["room", &id.to_string(), "members"]);
        let names: Vec<String> = self.with(|c| {
            redis::cmd("LRANGE")
                .arg(&members_key)
                .arg(0)
                .arg(-1)
                .query(c)
        })?;
        Ok((!names.is_empty()).then_some(names))
    }

    /// The ids of the rooms `user` is in, ascending.
    pub fn rooms_of(&self, user: &str) -> Result<Vec<u64>, StoreError> {
        let rooms_key = key(&["user", user, "rooms"]);
        let mut ids: Vec<u64> = self.with(|c| redis::cmd("SMEMBERS").arg(&rooms_key).query(c))?;
        ids.sort_unstable();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::RedisServer;
    use super::*;
    use std::sync::Arc;

    const T0: i64 = 1_654_095_600;

    fn numbers(entries: &[LogEntry]) -> Vec<u64> {
        entries.iter().map(|e| e.number).collect()
    }

    #[test]
    fn numbering_is_gapless_across_nodes_appending_at_once() {
        let redis = RedisServer::start();
        let nodes: Vec<_> = (0..4)
            .map(|_| Arc::new(RedisStore::open(&redis.url()).unwrap()))
            .collect();
        let handles: Vec<_> = nodes
            .iter()
            .cloned()
            .map(|node| {
                std::thread::spawn(move || {
                    (0..50)
                        .map(|i| node.append(Log::Broadcast, T0, "yoda", &format!("m{i}")))
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap()
                })
            })
            .collect();
        let mut all: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort();
        assert_eq!(all, (1..=200).collect::<Vec<_>>());
        assert_eq!(
            numbers(&nodes[0].entries(Log::Broadcast).unwrap()).len(),
            200
        );
    }

    #[test]
    fn since_is_strictly_later_in_number_order_and_keeps_odd_text() {
        let redis = RedisServer::start();
        let store = RedisStore::open(&redis.url()).unwrap();
        let members = ["yoda".to_string(), "hans".to_string()];
        let Created::New(id) = store.create_room(&members).unwrap() else {
            panic!("a new room")
        };
        let room = Log::Room(id);
        for (ts, text) in [
            (T0, "a"),
            (T0 + 10, "b  spaced | piped"),
            (T0 + 5, ""),
            (T0 + 20, "d"),
        ] {
            store.append(room, ts, "yo|da", text).unwrap();
        }
        assert_eq!(numbers(&store.since(room, T0).unwrap()), [2, 3, 4]);
        assert_eq!(numbers(&store.since(room, T0 + 10).unwrap()), [4]);
        let second = &store.since(room, T0 + 9).unwrap()[0];
        assert_eq!(
            (second.user.as_str(), second.text.as_str()),
            ("yo|da", "b  spaced | piped")
        );
        assert!(
            store.since(Log::Broadcast, T0).unwrap().is_empty(),
            "logs apart"
        );
        assert_eq!(store.room_members(1).unwrap().unwrap(), ["yoda", "hans"]);
        assert!(store.room_members(9).unwrap().is_none());
        let again = ["hans".to_string(), "yoda".to_string(), "hans".to_string()];
        assert_eq!(store.create_room(&again).unwrap(), Created::Exists(1));
        let three = ["luke".to_string(), "hans".to_string(), "luke".to_string()];
        assert_eq!(store.create_room(&three).unwrap(), Created::New(2));
        assert_eq!(store.room_members(2).unwrap().unwrap(), ["luke", "hans"]);
        assert_eq!(store.rooms_of("hans").unwrap(), [1, 2]);
        assert_eq!(store.rooms_of("yoda").unwrap(), [1]);
    }

    /// By hand (`cargo test --release --lib million -- --ignored --nocapture`): RDM of
    /// the last 10 on a 1,000,000-message history, as Redis's own time per call.
    #[test]
    #[ignore]
    fn million_message_history_since_latency() {
        let redis = RedisServer::start();
        let store = RedisStore::open(&redis.url()).unwrap();
        let n = 1_000_000i64;
        store
            .append(Log::Broadcast, T0, "yoda", "loads the script")
            .unwrap();
        for chunk in (1..n).collect::<Vec<_>>().chunks(20_000) {
            let mut pipe = redis::pipe();
            for &i in chunk {
                let script = Script::new(APPEND);
                let mut call = script.key(key(&["broadcast", "next"]));
                call.key(key(&["broadcast", "entries"]))
                    .arg(T0 + i)
                    .arg(format!("yoda message {i}"));
                pipe.invoke_script(&call).ignore();
            }
            store.with(|c| pipe.exec(c)).unwrap();
        }
        redis.command(&["CONFIG", "RESETSTAT"]);
        let calls = 1000;
        let started = std::time::Instant::now();
        for _ in 0..calls {
            assert_eq!(store.since(Log::Broadcast, T0 + n - 11).unwrap().len(), 10);
        }
        let stats = redis.command(&["INFO", "commandstats"]);
        let stats: String = redis::from_redis_value(stats).unwrap();
        let line = stats.lines().find(|l| l.contains("zrangebyscore")).unwrap();
        println!(
            "round trip {:?} per call; redis: {line}",
            started.elapsed() / calls
        );
    }
}
