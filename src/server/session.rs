//! One connection's reader thread: reads requests, walks the login phase, dispatches
//! commands to the state, and queues each response in the connection's outbox.
//!
//! The connection lifecycle is the [`Phase`] type with one transition per login
//! response. The session ends when the client closes, when a reply says `Exit`, on a
//! protocol violation (an over-long line), or when the socket is shut down by the
//! server (shutdown, idle timeout, outbox overflow); it then logs the user out.

use super::login::Peer;
use super::outbox::{Conn, Out, WriteThrough};
use super::secure::{self, Opened, Wire};
use super::state::{ConnId, Reply, State};
use super::syncer::{SyncPoint, Unsynced};
use super::throttle::TokenBucket;
use crate::protocol::{self, ClientMsg, Command, Event, FrameError, Request, Response, Then};
use crate::text;
use std::io::BufReader;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a connection is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    AwaitingUsername,
    AwaitingPassword { user: String },
    AwaitingNewPassword { user: String },
    LoggedIn { user: String },
    Closing,
}

impl Phase {
    /// The phase a login response leads to.
    fn after(self, then: &Then) -> Phase {
        match (self, then) {
            (_, Then::Exit { .. }) => Phase::Closing,
            (_, Then::AskUsername) => Phase::AwaitingUsername,
            (
                Phase::AwaitingPassword { user } | Phase::AwaitingNewPassword { user },
                Then::LoggedIn,
            ) => Phase::LoggedIn { user },
            (p, _) => p,
        }
    }

    pub fn user(&self) -> Option<&str> {
        match self {
            Phase::LoggedIn { user } => Some(user),
            _ => None,
        }
    }
}

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
                    self.protocol_error("line too long");
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
            self.protocol_error("too many malformed requests");
        }
    }

    fn protocol_error(&mut self, why: &str) {
        log::info!("{}: disconnecting: {why}", self.peer.addr);
        self.conn.send_msg(&Event::Error {
            text: format!("Error. {why}, disconnecting"),
        });
        self.phase = Phase::Closing;
    }

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
    fn wait_for_synced_replies(&self) {
        self.unsynced.wait(Duration::from_secs(30));
    }

    /// Queues `lines` as text events, many to an outbox slot so that a long reply leaves
    /// room for what others send meanwhile. Waiting for room only holds up this
    /// connection's own session thread. False if the connection closed.
    fn send_as_events(&self, lines: Vec<String>) -> bool {
        let mut chunk = Vec::new();
        for text in lines {
            chunk.extend(protocol::encode(&Event::Text { text }));
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

    fn handle(&mut self, req: Request, reader: &mut BufReader<Wire<'_>>) {
        let reply = match self.phase.clone() {
            Phase::LoggedIn { user } => {
                if !self.state.touch(&user, self.id) {
                    // Logged out by the timer meanwhile: the goodbye is already queued.
                    self.phase = Phase::Closing;
                    return;
                }
                match req.cmd {
                    Command::Upd { title, file, size } => {
                        return self.upload(req.id, &user, &title, &file, size, reader)
                    }
                    Command::Dwn { title, file } => {
                        return self.download(req.id, &user, &title, &file)
                    }
                    cmd => self.dispatch(&user, cmd),
                }
            }
            phase => {
                let reply = self.login_step(phase, req.id, req.cmd);
                if let Some(user) = self.phase.user() {
                    // Logged in: the welcome went out under the state lock (see
                    // `come_online`) so no message to this user could overtake it.
                    self.state.deliver_offline(user, self.id);
                    return;
                }
                reply
            }
        };
        if let Then::Exit { .. } = reply.then {
            self.phase = Phase::Closing;
        }
        self.respond(req.id, reply);
    }

    /// The login phase: `hello`, `username`, then `password` or `new_password`.
    fn login_step(&mut self, phase: Phase, re: u64, cmd: Command) -> Reply {
        let reply = match (&phase, cmd) {
            (_, Command::Hello { udp_port, p2p_port }) => {
                self.peer.udp_port = udp_port;
                self.peer.p2p_port = p2p_port;
                return Reply::ok(vec![]).then(Then::AskUsername);
            }
            (_, Command::Username { name }) => {
                let reply = self.state.login_username(&name);
                self.phase = match reply.then {
                    Then::AskPassword => Phase::AwaitingPassword { user: name },
                    Then::AskNewPassword => Phase::AwaitingNewPassword { user: name },
                    _ => Phase::AwaitingUsername,
                };
                return reply;
            }
            (Phase::AwaitingPassword { user }, Command::Password { password }) => self
                .state
                .login_password(self.id, re, user, &password, &self.peer),
            (Phase::AwaitingNewPassword { user }, Command::NewPassword { password }) => {
                self.state.sign_up(self.id, re, user, &password, &self.peer)
            }
            _ => Reply::err(text::NOT_LOGGED_IN).then(Then::AskUsername),
        };
        self.phase = phase.after(&reply.then);
        reply
    }

    /// One logged-in command.
    fn dispatch(&mut self, user: &str, cmd: Command) -> Reply {
        let s = &self.state;
        if let Some(name) = cmd_name(&cmd) {
            s.announce(&format!("{user} issued {name} command"));
        }
        match cmd {
            Command::Message { to, text } => s.message(user, &to, &text),
            Command::Broadcast { text } => s.broadcast(user, &text),
            Command::WhoElse => s.whoelse(user),
            Command::WhoElseSince { secs } => s.whoelsesince(user, secs),
            Command::Block { user: who } => s.set_block(user, &who, true),
            Command::Unblock { user: who } => s.set_block(user, &who, false),
            Command::Logout { how } => s.logout(self.id, user, how),
            Command::Bcm { text } => s.bcm(user, &text),
            Command::Atu => s.atu(user),
            Command::Srb { users } => s.srb(user, &users),
            Command::Srm { room, text } => s.srm(user, room, &text),
            Command::Rdm { kind, since } => s.rdm(user, &kind, &since),
            Command::Crt { title } => s.crt(user, &title),
            Command::Msg { title, text } => s.msg(user, &title, &text),
            Command::Dlt { title, n } => s.dlt(user, &title, n),
            Command::Edt { title, n, text } => s.edt(user, &title, n, &text),
            Command::Lst => s.lst(),
            Command::Rdt { title } => s.rdt(&title),
            Command::Rmv { title } => s.rmv(user, &title),
            Command::Sht { password } => s.sht(&password),
            Command::StartPrivate { user: who } => s.start_private(user, &who),
            Command::PrivateAnswer {
                from,
                accept,
                fingerprint,
            } => s.private_answer(user, &from, accept, fingerprint),
            Command::PrivateCheck { user: who } => s.check_private(user, &who),
            Command::PrivateWithdraw { user: who } => s.withdraw_private(user, &who),
            Command::Activity => Reply::ok(vec![]),
            Command::Udp { user: who, file } => s.udp(user, &who, &file),
            Command::Hello { .. }
            | Command::Username { .. }
            | Command::Password { .. }
            | Command::NewPassword { .. } => Reply::err("Error. Already logged in"),
            Command::Upd { .. } | Command::Dwn { .. } => unreachable!("handled by the session"),
        }
    }
}

/// The name the server log uses for a command (`yoda issued CRT command`).
fn cmd_name(cmd: &Command) -> Option<&'static str> {
    Some(match cmd {
        Command::Message { .. } => "message",
        Command::Broadcast { .. } => "broadcast",
        Command::WhoElse => "whoelse",
        Command::WhoElseSince { .. } => "whoelsesince",
        Command::Block { .. } => "block",
        Command::Unblock { .. } => "unblock",
        Command::Bcm { .. } => "BCM",
        Command::Atu => "ATU",
        Command::Srb { .. } => "SRB",
        Command::Srm { .. } => "SRM",
        Command::Rdm { .. } => "RDM",
        Command::Crt { .. } => "CRT",
        Command::Msg { .. } => "MSG",
        Command::Dlt { .. } => "DLT",
        Command::Edt { .. } => "EDT",
        Command::Lst => "LST",
        Command::Rdt { .. } => "RDT",
        Command::Rmv { .. } => "RMV",
        Command::Sht { .. } => "SHT",
        Command::StartPrivate { .. } => "startprivate",
        Command::Udp { .. } => "UDP",
        _ => return None,
    })
}
