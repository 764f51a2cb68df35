//! Delivering the offline messages that wait for a user who just logged in.
//!
//! However many wait, they go out as text events (one line each) in portions small enough
//! for the outbox, oldest first, after the welcome. A portion stays in the store's queue
//! until it has been written to the socket, and is then recorded as delivered; if the
//! connection goes first, it is still there for the next login. While a queue is not
//! empty, a new direct message to that user joins its end instead of going live, so it
//! cannot overtake the backlog.

use super::outbox::{Conn, Out};
use super::state::{ConnId, State};
use super::store::Queued;
use crate::protocol::{encode, Event};
use std::collections::hash_map::Entry;
use std::time::Duration;

/// Most messages in one portion.
const PORTION_LINES: usize = 64;
/// Most encoded bytes in one portion (a portion always takes at least one message).
const PORTION_BYTES: usize = 256 * 1024;
/// How long a portion may take to be written before the login is given up on.
const DRAIN_WAIT: Duration = Duration::from_secs(30);

impl State {
    /// Sends `user` their offline messages, portion by portion (see the module docs).
    /// One delivery runs per user at a time: asked again while one runs (a new login,
    /// or a message kept for a user already logged in, see [`State::nudge_offline`]),
    /// it goes round once more, on the connection asked for last.
    pub fn deliver_offline(&self, user: &str, conn: ConnId) {
        match self.0.core.lock().draining.entry(user.to_string()) {
            Entry::Occupied(mut again) => {
                again.insert(Some(conn));
                return;
            }
            Entry::Vacant(running) => {
                running.insert(None);
            }
        }
        let mut conn = conn;
        loop {
            self.deliver_portions(user, conn);
            let mut core = self.0.core.lock();
            match core.draining.get_mut(user).and_then(Option::take) {
                Some(next) => conn = next,
                None => {
                    core.draining.remove(user);
                    return;
                }
            }
        }
    }

    /// A message was kept offline for `user` while they are logged in (it crossed the
    /// bus as they logged out and in, or Redis could not carry it live): the node that
    /// has them delivers their queue now rather than at their next login.
    pub(super) fn nudge_offline(&self, user: &str) {
        if self.drain_here(user) {
            return;
        }
        if let Some(there) = self.elsewhere(user) {
            let user = user.to_string();
            self.publish(&super::node::BusMsg::Drain {
                user,
                node: there.node,
            });
        }
    }

    /// Delivers `user`'s queue on a thread of its own (it waits for their socket), if
    /// they are logged in here.
    pub(super) fn drain_here(&self, user: &str) -> bool {
        let conn = {
            let mut core = self.0.core.lock();
            let Some(conn) = core.roster.online(user).map(|o| o.conn) else {
                return false;
            };
            if let Some(again) = core.draining.get_mut(user) {
                *again = Some(conn); // the running delivery goes round once more
                return true;
            }
            conn
        };
        let (state, user) = (self.clone(), user.to_string());
        let spawned = std::thread::Builder::new()
            .name("offline-nudge".into())
            .spawn(move || state.deliver_offline(&user, conn));
        spawned
            .inspect_err(|e| log::error!("cannot deliver kept messages now: {e}"))
            .is_ok()
    }

    fn deliver_portions(&self, user: &str, conn: ConnId) {
        while let Some((portion, handle)) = self.next_portion(user, conn) {
            let queued = portion.iter().all(|q| {
                let line = encode(&Event::Text {
                    text: q.line.clone(),
                    sent: q.sent,
                });
                handle.send_blocking(Out::Line(line.into()))
            });
            if !(queued && handle.drained(DRAIN_WAIT)) {
                return;
            }
            let _writes = self.0.writes.lock(user);
            if let Err(e) = self
                .store()
                .offline()
                .delivered_offline(user, portion.len())
            {
                log::error!("cannot record offline messages as delivered: {e}");
                return;
            }
        }
    }

    /// The next portion of `user`'s queue (left on it until it is written), while `user`
    /// is online on `conn`. A message sent once this finds the queue empty goes live.
    fn next_portion(&self, user: &str, conn: ConnId) -> Option<(Vec<Queued>, Conn)> {
        let offline = self.store().offline();
        // Most logins have nothing waiting: no `writes` lock for them. (A message sent
        // from now on finds `user` online with no backlog and goes live.)
        if !offline.has_offline(user).unwrap_or(true) {
            return None;
        }
        let _writes = self.0.writes.lock(user);
        let handle = {
            let core = self.0.core.lock();
            if !core.roster.online_on(user, conn) {
                return None;
            }
            core.roster.conn(conn)?.clone()
        };
        match offline.pending_offline(user, PORTION_LINES, PORTION_BYTES) {
            Ok(portion) => (!portion.is_empty()).then_some((portion, handle)),
            Err(e) => {
                log::error!("cannot read offline messages: {e}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::outbox::Conn;
    use super::*;
    use crate::server::Peer;
    use std::sync::Arc;
    use std::time::Instant;

    /// A backlog whose connection goes before it is written stays queued, in order,
    /// with nothing recorded as delivered: the next login gets all of it.
    #[test]
    fn a_backlog_not_written_is_kept_for_the_next_login() {
        let (dir, state) = crate::server::testing::state("");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let far = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (near, addr) = listener.accept().unwrap();
        // Shut down first: every write fails, so nothing queued is ever written.
        let near = Arc::new(near);
        near.shutdown(std::net::Shutdown::Both).unwrap();
        let conn = Conn::new(near);
        let wanted: Vec<Queued> = (0..100)
            .map(|i| Queued::new(format!("hans: {i}"), Some(1_764_700_000 + i)))
            .collect();
        for q in &wanted {
            let sent = q.sent.unwrap();
            state
                .store()
                .offline()
                .queue_offline("yoda", &q.line, sent)
                .unwrap();
        }
        {
            let mut core = state.0.core.lock();
            let now = Instant::now();
            core.roster.connect(1, conn, addr.ip(), now);
            let peer = Peer {
                addr,
                udp_port: 0,
                p2p_port: 0,
            };
            core.roster.log_in("yoda", 1, &peer, now);
        }
        drop(far);
        state.deliver_offline("yoda", 1);
        let left = state
            .store()
            .offline()
            .pending_offline("yoda", 1000, usize::MAX);
        assert_eq!(left.unwrap(), wanted);
        let journal = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
        assert!(!journal.contains("delivered"), "{journal}");
    }
}
