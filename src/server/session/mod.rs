//! One connection's reader thread: reads requests, walks the login phase, dispatches
//! commands to the state, and queues each response in the connection's outbox.
//!
//! The connection lifecycle is the [`Phase`] type, with one transition function
//! (`phase`); replies and their order are `replies`'; `UPD` and `DWN` stream in
//! `streaming`. The session ends when the client closes, when a reply says `Exit`, on a
//! protocol violation (an over-long line), or when the socket is shut down by the server
//! (shutdown, idle timeout, outbox overflow); it then logs the user out.

mod phase;
mod replies;
mod streaming;

pub use phase::{Phase, Step};

use super::login::Peer;
use super::outbox::{Conn, Out, WriteThrough};
use super::secure::{self, Opened, Wire};
use super::state::{ConnId, Reply, State};
use super::syncer::Unsynced;
use super::throttle::TokenBucket;
use crate::protocol::{self, ClientMsg, Command, Event, FrameError, Request, Then};
use crate::text;
use std::io::BufReader;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

/// Requests handled before the lines they queued are written, at most.
const MAX_BATCH: usize = 64;

/// Malformed lines tolerated before a connection is dropped as hostile.
const MAX_MALFORMED: u32 = 8;

/// The read buffer, allocated only while requests arrive (see [`release`]).
const READ_BUF: usize = 4 * 1024;

/// Gives the read buffers back: an idle client costs none (touched memory stays
/// resident, so a buffer kept per connection is RSS per connection).
fn release<'a>(reader: &mut BufReader<Wire<'a>>, buf: &mut Vec<u8>, wire: Wire<'a>) {
    *reader = BufReader::with_capacity(0, wire);
    *buf = Vec::new();
}

/// One connection's session.
pub struct Session {
    pub state: State,
    pub id: ConnId,
    pub conn: Conn,
    pub peer: Peer,
    pub phase: Phase,
    /// Replies handed to the syncer thread and not yet sent.
    pub unsynced: Arc<Unsynced>,
}

impl Session {
    /// Runs the reader loop to the end, then cleans up.
    pub fn run(mut self, sock: Arc<TcpStream>) {
        let cfg = self.state.config();
        if let Opened::Refused = secure::open(cfg.tls.as_ref(), &self.conn, &sock) {
            self.conn.send(Out::Close);
            return self.state.disconnect(self.id, None);
        }
        let conn = self.conn.clone();
        let wire = Wire::of(&sock, &conn);
        let mut reader = BufReader::with_capacity(0, wire);
        let mut buf = Vec::new();
        let mut malformed = 0;
        let mut bucket = TokenBucket::new(cfg.rate_limit, cfg.rate_burst, Instant::now());
        // Who logged in here: a protocol error moves the phase to `Closing`, which must
        // not leave that user online with a dead connection.
        let mut user: Option<String> = None;
        // Lines queued while handling requests are written by this thread (see
        // `outbox::WriteThrough`) once no complete request is waiting in `reader`: a
        // session that falls behind then sends each client the lines of several requests
        // at once, as an event loop does, instead of one `send` per line.
        let mut batch: Option<WriteThrough> = None;
        let mut batched = 0;
        while self.phase != Phase::Closing {
            if user.is_none() {
                user = self.phase.user().map(str::to_string);
            }
            if batched >= MAX_BATCH || !reader.buffer().contains(&b'\n') {
                batch = None;
                batched = 0;
            }
            if reader.capacity() == 0 {
                // Wait for the client with no buffer, then take one for what arrives.
                wire.wait();
                reader = BufReader::with_capacity(READ_BUF, wire);
            }
            match protocol::read_msg::<_, ClientMsg>(&mut reader, &mut buf) {
                Ok(ClientMsg::Request(req)) => {
                    if matches!(req.cmd, Command::Upd { .. } | Command::Dwn { .. }) {
                        // A transfer waits on this client in mid-request: nothing it
                        // queues may wait for the end of the request.
                        batch = None;
                    } else {
                        batch.get_or_insert_with(WriteThrough::begin);
                        batched += 1;
                        if reader.buffer().is_empty() {
                            // Nothing more has arrived: give the buffers back before
                            // handling, which may wait for a lock (in a login storm,
                            // thousands wait at once, and what they held stays resident).
                            release(&mut reader, &mut buf, wire);
                        }
                    }
                    if bucket.as_mut().is_none_or(|b| b.allow(Instant::now())) {
                        self.handle(req, &mut reader)
                    } else {
                        self.respond(req.id, Reply::err(text::TOO_MANY_COMMANDS))
                    }
                }
                Ok(ClientMsg::Bin(_)) => self.reject("unexpected binary frame", &mut malformed),
                Err(FrameError::Malformed(why)) => self.reject(&why, &mut malformed),
                Err(FrameError::TooLong) => {
                    self.protocol_error(text::LINE_TOO_LONG);
                    break;
                }
                Err(FrameError::Closed) | Err(FrameError::Io(_)) => break,
            }
            if reader.buffer().is_empty() {
                release(&mut reader, &mut buf, wire);
            }
        }
        drop(batch);
        self.wait_for_synced_replies();
        self.conn.send(Out::Close);
        self.state.disconnect(self.id, user.as_deref());
    }

    fn reject(&mut self, why: &str, malformed: &mut u32) {
        *malformed += 1;
        log::debug!("{}: malformed request: {why}", self.peer.addr);
        self.conn.send_msg(&Event::Text {
            text: text::PROTOCOL_ERROR.to_string(),
        });
        if *malformed >= MAX_MALFORMED {
            self.protocol_error(text::TOO_MANY_MALFORMED);
        }
    }

    fn protocol_error(&mut self, why: &str) {
        log::info!("{}: disconnecting: {why}", self.peer.addr);
        self.conn.send_msg(&Event::Error {
            text: text::disconnecting(why),
        });
        self.advance(Step::End, &Then::Continue);
    }

    fn handle(&mut self, req: Request, reader: &mut BufReader<Wire<'_>>) {
        let reply = match self.phase.clone() {
            Phase::LoggedIn { user } => {
                if !self.state.touch(&user, self.id) {
                    // Logged out by the timer meanwhile: the goodbye is already queued.
                    return self.advance(Step::End, &Then::Continue);
                }
                match req.cmd {
                    Command::Upd { title, file, size } => {
                        return self.upload(req.id, &user, &title, &file, size, reader)
                    }
                    Command::Dwn { title, file } => {
                        return self.download(req.id, &user, &title, &file)
                    }
                    cmd => super::cmd::dispatch(&self.state, self.id, &user, cmd),
                }
            }
            _ => {
                let reply = self.login_step(req.id, req.cmd);
                if let Some(user) = self.phase.user() {
                    // Logged in: the welcome went out under the state lock (see
                    // `come_online`) so no message to this user could overtake it.
                    self.state.deliver_offline(user, self.id);
                    return;
                }
                reply
            }
        };
        self.advance(Step::Answered, &reply.then);
        self.respond(req.id, reply);
    }
}
