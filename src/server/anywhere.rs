//! Users wherever they are logged in: this node's roster plus, in a cluster, the other
//! nodes' (the presence manager's), for the commands that name or list users (`message`,
//! `whoelse`, `whoelsesince`, `ATU`, `SRB`, `startprivate`, `UDP`), and what other nodes
//! publish, fanned out here. On a single server
//! the presence manager knows nobody else, and these are the roster's answers.
//!
//! A presence manager that cannot answer (Redis unreachable) counts as nobody else being
//! online: lists show this node's users, and a message is stored for later.

use super::delivery::{Audience, RemoteUser};
use super::node::Target;
use super::state::State;
use crate::protocol::Event;
use chrono::{DateTime, Local};
use std::net::IpAddr;

/// A logged-in user as listings show them.
#[derive(Debug, Clone)]
pub struct Present {
    pub name: String,
    pub since: DateTime<Local>,
    pub ip: IpAddr,
    pub udp_port: u16,
}

impl AsRef<str> for Present {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

impl State {
    /// `user`, if logged in on another node.
    pub(super) fn elsewhere(&self, user: &str) -> Option<RemoteUser> {
        self.0.presence.elsewhere(user).unwrap_or_else(|e| {
            log::warn!("presence: {e}");
            None
        })
    }

    /// Is `user` logged in on this node or another?
    pub(super) fn online_anywhere(&self, user: &str) -> bool {
        self.0.core.lock().roster.is_online(user) || self.elsewhere(user).is_some()
    }

    /// Sends `ev` to `to` on another node (the block rule applies there); false if
    /// `to` is not logged in on another node or the line could not be published.
    pub(super) fn send_elsewhere(&self, from: &str, to: &str, ev: &Event) -> bool {
        let Some(there) = self.elsewhere(to) else {
            return false;
        };
        let at = &there.node;
        let sent = self.0.broker.publish(&Audience::User { from, to, at }, ev);
        sent.inspect_err(|e| log::warn!("cannot send to {to}: {e}"))
            .is_ok()
    }

    /// A line another node published: fanned out here. Private-chat requests are kept
    /// track of here too: recorded where the answer will come, forgotten when withdrawn
    /// or answered.
    pub(super) fn delivered_from_elsewhere(&self, to: &Target, event: &Event) {
        if let Target::User { at: Some(at), .. } = to {
            if self.node().is_some_and(|me| me.name != *at) {
                return; // for the node that had the user when the sender looked
            }
        }
        if let (Target::Presence { about, .. }, Event::Text { text, .. }) = (to, event) {
            if *text == crate::text::logged_out(about) {
                self.0.core.lock().withdraw_requests(about);
            }
        }
        let reached = match to {
            Target::Presence {
                about,
                made_ms: Some(at),
            } => self.0.core.lock().presence_made_at(about, event, *at),
            _ => self.deliver_here(to.audience(), event),
        }
        .reached;
        let Target::User { from, to, .. } = to else {
            return;
        };
        if let (0, Event::Text { text, .. }) = (reached, event) {
            return self.keep_undelivered(from, to, text);
        }
        let mut core = self.0.core.lock();
        let pending = &mut core.pending_private;
        match event {
            Event::PrivateRequest { .. } if reached > 0 => {
                pending.insert((from.clone(), to.clone()));
            }
            Event::PrivateWithdrawn { .. } => {
                pending.remove(&(from.clone(), to.clone()));
            }
            Event::PrivateAccepted { .. } | Event::PrivateDeclined { .. } => {
                pending.remove(&(to.clone(), from.clone()));
            }
            _ => {}
        }
    }

    /// A direct message from another node that found `to` no longer (or not yet) logged
    /// in here. The sender was told it was delivered, so it is not dropped: it goes to
    /// `to` if they are here by now, else it is kept with their offline messages, and
    /// the node they are on now (if any) is asked to deliver those.
    fn keep_undelivered(&self, from: &str, to: &str, line: &str) {
        let store = self.store();
        // As `message` does: against `deliver_offline`, and behind a backlog.
        let _writes = self.0.writes.lock(to);
        let backlog = store.offline().has_offline(to).unwrap_or(true);
        {
            let core = self.0.core.lock();
            if !core.blocks.reaches(from, to) {
                return;
            }
            if !backlog && core.send_event(to, &Event::text(line.to_string())) {
                return;
            }
        }
        let sent = crate::server::store::unix_now();
        if let Err(e) = store.offline().queue_offline(to, line, sent) {
            return log::error!("cannot keep a message from {from} for {to}: {e}");
        }
        drop(_writes);
        self.nudge_offline(to);
    }

    /// Those of `users` that `me` may see (not `me`), in their order. In a cluster as
    /// Redis has it, so a block made on another node a moment ago holds here before its
    /// publish arrives; on one server, or when Redis cannot answer, by this node's rule.
    pub(super) fn visible_to<T: AsRef<str>>(&self, me: &str, users: Vec<T>) -> Vec<T> {
        let users: Vec<T> = users.into_iter().filter(|u| u.as_ref() != me).collect();
        let names: Vec<&str> = users.iter().map(AsRef::as_ref).collect();
        let shared = self.node().map(|n| n.store.blocked_among(&names, me));
        let blocked = match shared {
            Some(Ok(blocked)) if blocked.len() == names.len() => blocked,
            found => {
                if let Some(Err(e)) = found {
                    log::warn!("blocks: {e}");
                }
                let core = self.0.core.lock();
                names.iter().map(|u| !core.blocks.visible(u, me)).collect()
            }
        };
        let shown = users.into_iter().zip(blocked).filter(|(_, b)| !b);
        shown.map(|(u, _)| u).collect()
    }

    /// Everyone logged in but `me`, on any node, that `me` may see, in login order.
    pub(super) fn everyone_but(&self, me: &str) -> Vec<Present> {
        let remote = self.0.presence.remote_online().unwrap_or_else(|e| {
            log::warn!("presence: {e}");
            Vec::new()
        });
        let core = self.0.core.lock();
        let mut all: Vec<Present> = core
            .roster
            .users()
            .map(|(u, o)| Present {
                name: u.clone(),
                since: o.since,
                ip: o.ip,
                udp_port: o.udp_port,
            })
            .collect();
        let here = |u: &str| core.roster.is_online(u);
        all.extend(
            remote
                .into_iter()
                .filter(|r| !here(&r.name))
                .map(|r| Present {
                    name: r.name,
                    since: r.since,
                    ip: r.ip,
                    udp_port: r.udp_port,
                }),
        );
        drop(core);
        all.sort_by(|a, b| (a.since, &a.name).cmp(&(b.since, &b.name)));
        self.visible_to(me, all)
    }

    /// Has someone logged in on another node blocked `from`? (A broadcast skips them
    /// there; the sender is told here.) Of those this node's rule has blocking `from`,
    /// Redis says which still do (`visible_to`), so an unblock made on another node a
    /// moment ago holds here before its publish arrives. Costs nothing when nobody has
    /// blocked `from`.
    pub(super) fn blocked_elsewhere(&self, from: &str) -> bool {
        let blockers = self.0.core.lock().blocks.blockers_of(from);
        if blockers.is_empty() {
            return false;
        }
        let unblocked = self.visible_to(from, blockers.clone());
        let mut still = blockers.iter().filter(|b| !unblocked.contains(b));
        still.any(|b| self.elsewhere(b).is_some())
    }
}
