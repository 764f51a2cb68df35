//! The forum's threads in Redis: one hash field per thread holding the thread file's text
//! exactly (BEHAVIOUR §3.3), so `export` writes it as it is.
//!
//! A change is read, applied by the caller, and written back only if nobody changed the
//! thread meanwhile (compare-and-set in one Lua script, retried), so two nodes editing
//! one thread at once both land, in some order, and numbering stays gapless.

use super::{key, RedisStore, StoreError};
use redis::Script;

const CAS: &str = r"
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
";

/// How often a contended thread update is retried before giving up.
const RETRIES: usize = 64;

fn threads() -> String {
    key(&["threads"])
}

impl RedisStore {
    /// Creates thread `title` by `creator`; false if it exists.
    pub fn create_thread(&self, title: &str, creator: &str) -> Result<bool, StoreError> {
        let text = format!("{creator}\n");
        self.with(|c| {
            redis::cmd("HSETNX")
                .arg(threads())
                .arg(title)
                .arg(&text)
                .query(c)
        })
    }

    /// The thread file's text, if the thread exists.
    pub fn thread_text(&self, title: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| redis::cmd("HGET").arg(threads()).arg(title).query(c))
    }

    /// Applies `change` to the thread's text and stores the result. `change` returns
    /// `Err(reason)` to leave the thread as it is; it may run more than once when
    /// another node changes the thread meanwhile. `Ok(None)`: no such thread.
    pub fn update_thread<R>(
        &self,
        title: &str,
        mut change: impl FnMut(&str) -> Result<String, R>,
    ) -> Result<Option<Result<(), R>>, StoreError> {
        for _ in 0..RETRIES {
            let Some(old) = self.thread_text(title)? else {
                return Ok(None);
            };
            let new = match change(&old) {
                Ok(new) => new,
                Err(reason) => return Ok(Some(Err(reason))),
            };
            let set: i64 = self.with(|c| {
                Script::new(CAS)
                    .key(threads())
                    .arg(title)
                    .arg(&old)
                    .arg(&new)
                    .invoke(c)
            })?;
            if set == 1 {
                return Ok(Some(Ok(())));
            }
        }
        Err(StoreError::Unavailable(format!(
            "thread {title} is too busy"
        )))
    }

    /// Removes thread `title`; false if there was none.
    pub fn remove_thread(&self, title: &str) -> Result<bool, StoreError> {
        self.with(|c| redis::cmd("HDEL").arg(threads()).arg(title).query(c))
    }

    /// Every thread's title, sorted.
    pub fn thread_titles(&self) -> Result<Vec<String>, StoreError> {
        let mut titles: Vec<String> = self.with(|c| redis::cmd("HKEYS").arg(threads()).query(c))?;
        titles.sort();
        Ok(titles)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::RedisServer;
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_posts_from_several_nodes_all_land() {
        let redis = RedisServer::start();
        let store = RedisStore::open(&redis.url()).unwrap();
        assert!(store.create_thread("3331", "yoda").unwrap());
        assert!(!store.create_thread("3331", "hans").unwrap());
        let nodes: Vec<_> = (0..3)
            .map(|_| Arc::new(RedisStore::open(&redis.url()).unwrap()))
            .collect();
        let handles: Vec<_> = nodes
            .iter()
            .cloned()
            .enumerate()
            .map(|(n, node)| {
                std::thread::spawn(move || {
                    for i in 0..20 {
                        let post = |old: &str| -> Result<String, ()> {
                            let next = old.lines().count();
                            Ok(format!("{old}{next} node{n}: post {i}\n"))
                        };
                        assert_eq!(node.update_thread("3331", post).unwrap(), Some(Ok(())));
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        let text = store.thread_text("3331").unwrap().unwrap();
        let numbers: Vec<usize> = text
            .lines()
            .skip(1)
            .map(|l| l.split(' ').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(numbers, (1..=60).collect::<Vec<_>>());
    }

    #[test]
    fn a_refused_change_leaves_the_thread_and_removal_is_final() {
        let redis = RedisServer::start();
        let store = RedisStore::open(&redis.url()).unwrap();
        let refuse = |_: &str| -> Result<String, &str> { Err("not yours") };
        assert_eq!(store.update_thread("9331", refuse).unwrap(), None);
        store.create_thread("9331", "yoda").unwrap();
        store.create_thread("1000", "hans").unwrap();
        assert_eq!(
            store.update_thread("9331", refuse).unwrap(),
            Some(Err("not yours"))
        );
        assert_eq!(
            store.thread_text("9331").unwrap().as_deref(),
            Some("yoda\n")
        );
        assert_eq!(store.thread_titles().unwrap(), ["1000", "9331"]);
        assert!(store.remove_thread("9331").unwrap());
        assert!(!store.remove_thread("9331").unwrap());
        assert_eq!(store.thread_titles().unwrap(), ["1000"]);
    }
}
