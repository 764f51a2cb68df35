//! Replies and their order. A reply goes out in request order: one that must wait for
//! an fsync is handed to the syncer thread (which sends it after the fsync), and any
//! later reply waits on `Unsynced`'s condition variable until those are sent. A reply
//! too long for one protocol line goes out as text events first.

use super::Session;
use crate::protocol::{self, Event, Response, Then};
use crate::server::outbox::Out;
use crate::server::state::Reply;
use crate::server::syncer::SyncPoint;
use crate::text;
use std::sync::Arc;
use std::time::Duration;

/// Longest a reply waits for those before it that wait for an fsync.
const SYNC_WAIT: Duration = Duration::from_secs(30);

impl Session {
    pub(super) fn respond(&self, id: u64, mut reply: Reply) {
        if let Some(file) = reply.durable.take() {
            return self.respond_after_sync(id, reply, file);
        }
        self.wait_for_synced_replies();
        let mut resp = Response {
            re: id,
            ok: reply.ok,
            lines: reply.lines,
            then: reply.then,
        };
        let line = protocol::encode(&resp);
        if line.len() <= protocol::MAX_LINE || resp.lines.len() < 2 {
            self.conn.send(Out::Line(line.into()));
            return;
        }
        // Too long for one protocol line (RDM of a long history, a long thread): the
        // leading lines go first as text events, which the client prints in order, then
        // the response with the last line.
        let last = resp.lines.pop();
        if self.send_as_events(std::mem::take(&mut resp.lines)) {
            resp.lines.extend(last);
            self.conn.send_msg(&resp);
        }
    }

    /// Has the syncer thread send `reply` once `file` is fsynced, or an error if that
    /// fails. The session goes on with the next request meanwhile.
    fn respond_after_sync(&self, id: u64, reply: Reply, file: SyncPoint) {
        let response = move |ok, lines| -> Arc<[u8]> {
            protocol::encode(&Response {
                re: id,
                ok,
                lines,
                then: Then::Continue,
            })
            .into()
        };
        let saved = response(reply.ok, reply.lines);
        let conn = self.conn.clone();
        let unsynced = self.unsynced.clone();
        unsynced.add();
        self.state.0.syncer.after_sync(Some(file), move |ok| {
            let line = match ok {
                true => saved,
                false => response(false, vec![text::SAVE_FAILED.to_string()]),
            };
            conn.send(Out::Line(line));
            unsynced.done();
        });
    }

    /// Keeps replies in request order: a reply that needs no fsync waits until those
    /// handed to the syncer are sent (one fsync at most; only a client that sends a
    /// request before the previous reply arrives ever waits).
    pub(super) fn wait_for_synced_replies(&self) {
        self.unsynced.wait(SYNC_WAIT);
    }

    /// Queues `lines` as text events, many to an outbox slot so that a long reply leaves
    /// room for what others send meanwhile. Waiting for room only holds up this
    /// connection's own session thread. False if the connection closed.
    fn send_as_events(&self, lines: Vec<String>) -> bool {
        let mut chunk = Vec::new();
        for text in lines {
            chunk.extend(protocol::encode(&Event::text(text)));
            if chunk.len() >= protocol::MAX_LINE
                && !self
                    .conn
                    .send_blocking(Out::Line(std::mem::take(&mut chunk).into()))
            {
                return false;
            }
        }
        chunk.is_empty() || self.conn.send_blocking(Out::Line(chunk.into()))
    }
}
