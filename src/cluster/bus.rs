//! Lines between nodes over Redis pub/sub: one `PUBLISH` per message whatever the number
//! of recipients, and one subscriber thread per node that hands each message to the
//! node's own fan-out.
//!
//! Pub/sub does not keep what it carries: a message published while a node's subscriber
//! is reconnecting does not reach that node. What must not be lost (offline messages,
//! history) is in the store before it is published; the bus carries live delivery only.

use super::{key, RedisStore, StoreError};
use redis::Client;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often a waiting subscriber looks at its stop flag.
const POLL: Duration = Duration::from_millis(50);

/// The Redis channel for a bus topic.
pub fn channel(topic: &str) -> String {
    key(&["bus", topic])
}

impl RedisStore {
    /// Publishes `payload` on `topic`; how many nodes were subscribed.
    pub fn publish(&self, topic: &str, payload: &[u8]) -> Result<usize, StoreError> {
        self.with(|c| {
            redis::cmd("PUBLISH")
                .arg(channel(topic))
                .arg(payload)
                .query(c)
        })
    }

    /// Starts this node's subscriber on `topics`; `deliver(topic, payload)` runs on the
    /// subscriber thread for each message, in publish order.
    pub fn subscribe(
        &self,
        topics: &[&str],
        deliver: impl FnMut(&str, &[u8]) + Send + 'static,
    ) -> Result<Subscriber, StoreError> {
        let channels: Vec<String> = topics.iter().map(|t| channel(t)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let run = Listen {
            client: self.client().clone(),
            channels,
            prefix: channel(""),
            stop: stop.clone(),
            timeout: self.timeout(),
        };
        let thread = thread::Builder::new()
            .name("redis-subscriber".into())
            .spawn(move || run.serve(deliver, ready_tx))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        match ready_rx.recv_timeout(self.timeout() * 2) {
            Ok(Ok(())) => Ok(Subscriber {
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Unavailable("subscribe timed out".into())),
        }
    }
}

/// A running subscriber; dropping it stops its thread and waits for it.
pub struct Subscriber {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Listen {
    client: Client,
    channels: Vec<String>,
    /// What every channel name starts with (topics may hold ':').
    prefix: String,
    stop: Arc<AtomicBool>,
    /// How long connecting may take.
    timeout: Duration,
}

type Ready = crossbeam_channel::Sender<Result<(), StoreError>>;

impl Listen {
    /// Subscribes, reports readiness once, then delivers until stopped, reconnecting
    /// (every [`POLL`]) while Redis is away.
    fn serve(self, mut deliver: impl FnMut(&str, &[u8]), ready: Ready) {
        let mut ready = Some(ready);
        while !self.stop.load(Ordering::SeqCst) {
            let outcome = self.listen(&mut deliver, &mut ready);
            if let Err(e) = outcome {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(e.into()));
                    return;
                }
                log::warn!("redis subscriber: {e}; reconnecting");
                thread::sleep(POLL);
            }
        }
    }

    fn listen(
        &self,
        deliver: &mut impl FnMut(&str, &[u8]),
        ready: &mut Option<Ready>,
    ) -> redis::RedisResult<()> {
        let mut conn = self.client.get_connection_with_timeout(self.timeout)?;
        let mut pubsub = conn.as_pubsub();
        pubsub.subscribe(&self.channels)?;
        pubsub.set_read_timeout(Some(POLL))?;
        if let Some(ready) = ready.take() {
            let _ = ready.send(Ok(()));
        }
        while !self.stop.load(Ordering::SeqCst) {
            match pubsub.get_message() {
                Ok(msg) => {
                    let channel = msg.get_channel_name();
                    let topic = channel.strip_prefix(&self.prefix).unwrap_or(channel);
                    deliver(topic, msg.get_payload_bytes());
                }
                Err(e) if e.is_timeout() => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::RedisServer;
    use super::*;
    use crossbeam_channel::unbounded;

    const WAIT: Duration = Duration::from_secs(5);

    #[test]
    fn one_publish_reaches_every_node_in_order() {
        let redis = RedisServer::start();
        let store = RedisStore::open(&redis.url()).unwrap();
        let (tx, rx) = unbounded();
        let subs: Vec<_> = (0..3)
            .map(|node| {
                let tx = tx.clone();
                store
                    .subscribe(&["all", "node:a:1"], move |topic, payload| {
                        let _ = tx.send((node, topic.to_string(), payload.to_vec()));
                    })
                    .unwrap()
            })
            .collect();
        for i in 0..10u8 {
            assert_eq!(store.publish("all", &[i]).unwrap(), 3);
        }
        let mut got: Vec<Vec<u8>> = vec![Vec::new(); 3];
        for _ in 0..30 {
            let (node, topic, payload) = rx.recv_timeout(WAIT).expect("a delivery");
            assert_eq!(topic, "all");
            got[node].extend(payload);
        }
        assert!(
            got.iter().all(|g| *g == (0..10).collect::<Vec<u8>>()),
            "{got:?}"
        );
        drop(subs);
        assert_eq!(
            store.publish("all", b"x").unwrap(),
            0,
            "stopped subscribers leave"
        );
    }

    #[test]
    fn a_subscriber_carries_on_after_redis_was_paused() {
        let redis = RedisServer::start();
        // Calls give up after 300 ms (2 s by default): the pause is what this waits for.
        let store = RedisStore::open_with(&redis.url(), Duration::from_millis(300)).unwrap();
        let (tx, rx) = unbounded();
        let _sub = store
            .subscribe(&["all"], move |_, p| {
                let _ = tx.send(p.to_vec());
            })
            .unwrap();
        redis.signal("-STOP");
        let paused = store.publish("all", b"lost?");
        assert!(
            matches!(paused, Err(StoreError::Unavailable(_))),
            "{paused:?}"
        );
        redis.signal("-CONT");
        // The timed-out publish may still run once Redis resumes; what counts is that
        // a publish after the pause reaches the same subscriber.
        assert_eq!(store.publish("all", b"after").unwrap(), 1);
        let got: Vec<Vec<u8>> = (0..2).map_while(|_| rx.recv_timeout(WAIT).ok()).collect();
        assert!(got.contains(&b"after".to_vec()), "{got:?}");
    }
}
