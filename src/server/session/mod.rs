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

/// The read buffer, allocated only while requests arrive (see [`Reading::release`]).
const READ_BUF: usize = 4 * 1024;

/// The read loop's state.
struct Reading<'a> {
    reader: BufReader<Wire<'a>>,
    buf: Vec<u8>,
    wire: Wire<'a>,
    /// Malformed lines so far.
    malformed: u32,
    bucket: Option<TokenBucket>,
    /// Lines queued while handling requests are written by this thread (see
    /// `outbox::WriteThrough`) once no complete request is waiting in `reader`: a session
    /// that falls behind then sends each client the lines of several requests at once,
    /// as an event loop does, instead of one `send` per line.
    batch: Option<WriteThrough>,
    batched: usize,
}

impl Reading<'_> {
    /// Gives the read buffers back: an idle client costs none (touched memory stays
    /// resident, so a buffer kept per connection is RSS per connection).
    fn release(&mut self) {
        self.reader = BufReader::with_capacity(0, self.wire);
        self.buf = Vec::new();
    }
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
        let mut rd = Reading {
            reader: BufReader::with_capacity(0, wire),
            buf: Vec::new(),
            wire,
            malformed: 0,
            bucket: TokenBucket::new(cfg.rate_limit, cfg.rate_burst, Instant::now()),
            batch: None,
            batched: 0,
        };
        // Who logged in here: a protocol error moves the phase to `Closing`, which must
        // not leave that user online with a dead connection.
        let mut user: Option<String> = None;
        while self.phase != Phase::Closing {
            if user.is_none() {
                user = self.phase.user().map(str::to_string);
            }
            if !self.read_one(&mut rd) {
                break;
            }
        }
        drop(rd);
        self.wait_for_synced_replies();
        self.conn.send(Out::Close);
        self.state.disconnect(self.id, user.as_deref());
    }

    /// Reads and handles one message; false when the connection is over.
    fn read_one(&mut self, rd: &mut Reading<'_>) -> bool {
        if rd.batched >= MAX_BATCH || !rd.reader.buffer().contains(&b'\n') {
            rd.batch = None;
            rd.batched = 0;
        }
        if rd.reader.capacity() == 0 {
            // Wait for the client with no buffer, then take one for what arrives.
            rd.wire.wait();
            rd.reader = BufReader::with_capacity(READ_BUF, rd.wire);
        }
        match protocol::read_msg::<_, ClientMsg>(&mut rd.reader, &mut rd.buf) {
            Ok(ClientMsg::Request(req)) => self.on_request(req, rd),
            Ok(ClientMsg::Bin(_)) => self.reject("unexpected binary frame", &mut rd.malformed),
            Err(FrameError::Malformed(why)) => self.reject(&why, &mut rd.malformed),
            Err(FrameError::TooLong) => {
                self.protocol_error(text::LINE_TOO_LONG);
                return false;
            }
            Err(FrameError::Closed) | Err(FrameError::Io(_)) => return false,
        }
        if rd.reader.buffer().is_empty() {
            rd.release();
        }
        true
    }

    /// One request: batched with those before it (see [`Reading::batch`]) unless it is a
    /// transfer, and answered unless the client is over its rate.
    fn on_request(&mut self, req: Request, rd: &mut Reading<'_>) {
        if matches!(req.cmd, Command::Upd { .. } | Command::Dwn { .. }) {
            // A transfer waits on this client in mid-request: nothing it queues may
            // wait for the end of the request.
            rd.batch = None;
        } else {
            rd.batch.get_or_insert_with(WriteThrough::begin);
            rd.batched += 1;
            if rd.reader.buffer().is_empty() {
                // Nothing more has arrived: give the buffers back before handling, which
                // may wait for a lock (in a login storm, thousands wait at once, and what
                // they held stays resident).
                rd.release();
            }
        }
        if rd.bucket.as_mut().is_none_or(|b| b.allow(Instant::now())) {
            self.handle(req, &mut rd.reader)
        } else {
            self.respond(req.id, Reply::err(text::TOO_MANY_COMMANDS))
        }
    }

    fn reject(&mut self, why: &str, malformed: &mut u32) {
        *malformed += 1;
        log::debug!("{}: malformed request: {why}", self.peer.addr);
        self.conn.send_msg(&Event::text(text::PROTOCOL_ERROR));
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
