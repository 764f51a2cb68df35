//! Delivering the offline messages that wait for a user who just logged in.
//!
//! However many wait, they go out as text events (one line each) in portions small enough
//! for the outbox, oldest first, after the welcome. A portion is recorded as delivered in
//! the journal only once it has been written to the socket; if the connection goes first,
//! it is put back at the front of the queue for the next login. While a queue is not
//! empty, a new direct message to that user joins its end instead of going live, so it
//! cannot overtake the backlog.

use super::journal::Record;
use super::outbox::Out;
use super::state::{ConnId, State};
use crate::protocol::{encode, Event};
use std::time::Duration;

/// Most messages in one portion.
const PORTION_LINES: usize = 64;
/// Most encoded bytes in one portion (a portion always takes at least one message).
const PORTION_BYTES: usize = 256 * 1024;
/// How long a portion may take to be written before the login is given up on.
const DRAIN_WAIT: Duration = Duration::from_secs(30);

impl State {
    /// Sends `user` their offline messages, portion by portion (see the module docs).
    pub fn deliver_offline(&self, user: &str, conn: ConnId) {
        while let Some((portion, handle)) = self.take_portion(user, conn) {
            let count = portion.len();
            let queued = portion.iter().all(|text| {
                let line = encode(&Event::Text {
                    text: text.to_string(),
                });
                handle.send_blocking(Out::Line(line.into()))
            });
            if queued && handle.drained(DRAIN_WAIT) {
                let rec = Record::Delivered {
                    to: user.to_string(),
                    count,
                };
                let mut journal = self.0.journal.lock();
                let _ = State::journal_append(&mut journal, &rec);
            } else {
                self.put_back(user, portion);
                return;
            }
        }
    }

    /// The next portion of `user`'s queue, taken off it, while `user` is online on `conn`.
    fn take_portion(&self, user: &str, conn: ConnId) -> Option<(Vec<String>, super::outbox::Conn)> {
        // Most logins have nothing waiting: no journal lock for them. (A message sent
        // from now on finds `user` online with no backlog and goes live.)
        if !self.0.core.lock().offline.contains_key(user) {
            return None;
        }
        let _journal = self.0.journal.lock();
        let mut core = self.0.core.lock();
        if core.online.get(user).is_none_or(|o| o.conn != conn) {
            return None;
        }
        let handle = core.conns.get(&conn)?.clone();
        let queue = core.offline.get_mut(user)?;
        let (mut n, mut bytes) = (0, 0);
        while n < queue.len().min(PORTION_LINES) && (n == 0 || bytes < PORTION_BYTES) {
            bytes += queue[n].len();
            n += 1;
        }
        let portion: Vec<String> = queue.drain(..n).collect();
        if queue.is_empty() {
            core.offline.remove(user);
        }
        (!portion.is_empty()).then_some((portion, handle))
    }

    /// A portion that did not get out goes back to the front of the queue.
    fn put_back(&self, user: &str, mut portion: Vec<String>) {
        let _journal = self.0.journal.lock();
        let mut core = self.0.core.lock();
        let queue = core.offline.entry(user.to_string()).or_default();
        portion.append(queue);
        *queue = portion;
    }
}

#[cfg(test)]
mod tests {
    use super::super::outbox::Conn;
    use super::super::state::Online;
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    /// A backlog whose connection goes before it is written stays queued, in order,
    /// with nothing recorded as delivered: the next login gets all of it.
    #[test]
    fn a_backlog_not_written_is_kept_for_the_next_login() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open_quiet(dir.path());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let far = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (near, addr) = listener.accept().unwrap();
        // Shut down first: every write fails, so nothing queued is ever written.
        let near = Arc::new(near);
        near.shutdown(std::net::Shutdown::Both).unwrap();
        let conn = Conn::new(near);
        let wanted: Vec<String> = (0..100).map(|i| format!("hans: {i}")).collect();
        {
            let mut core = state.0.core.lock();
            core.offline.insert("yoda".into(), wanted.clone());
            core.conns.insert(1, conn);
            let online = Online {
                conn: 1,
                ip: addr.ip(),
                udp_port: 0,
                p2p_port: 0,
                since: chrono::Local::now(),
                seq: 1,
                last_active: Instant::now(),
                userlog_entry: String::new(),
            };
            core.online.insert("yoda".into(), online);
        }
        drop(far);
        state.deliver_offline("yoda", 1);
        assert_eq!(state.0.core.lock().offline["yoda"], wanted);
        let journal = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
        assert!(!journal.contains("delivered"), "{journal}");
    }
}
