//! Peer-to-peer private chat: this file owns the client's direct TCP sessions with other
//! clients (`startprivate` / `private` / `stopprivate`). The server only brokers a session
//! (it hands the accepting side a one-time token and the requesting side the accepter's
//! address and the same token); every private message then travels straight between the
//! two clients, so the server never sees it and blocking on the server does not end it.
//!
//! Wire format: JSON lines of at most 64 KiB. The connecting side sends
//! `{"t":"hello","from":..,"token":..}`; the accepting side answers `{"t":"welcome"}` once the
//! token (registered with [`PrivateChat::expect`] for exactly that user, single use) checks
//! out, or closes the connection. Then either side sends `{"t":"msg","text":..}`,
//! `{"t":"stop"}` (stopprivate) or `{"t":"bye"}` (logged out). One listener thread (nonblocking
//! accept polled against a stop flag) and one reader thread per session.

use super::peer::{PeerIdentity, PeerStream};
use crate::client::output::Printer;
use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader, ErrorKind, Read};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Longest accepted wire line, newline included.
const MAX_LINE: u64 = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an incoming hello waits for its token to be registered by `expect`, unless
/// `CHINWAG_TOKEN_WAIT` (seconds, fractions allowed; for tests) says otherwise.
const TOKEN_WAIT: Duration = Duration::from_secs(3);
/// Read timeout while waiting for hello / welcome (covers `TOKEN_WAIT`).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(6);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const JOIN_WAIT: Duration = Duration::from_secs(2);
const ACCEPT_POLL: Duration = Duration::from_millis(50);
/// Tokens never presented are forgotten after this long.
const TOKEN_TTL: Duration = Duration::from_secs(600);

#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "t", rename_all = "lowercase")]
enum Wire {
    Hello { from: String, token: String },
    Welcome,
    Msg { text: String },
    Stop,
    Bye,
}

/// Handle on this client's private-chat listener and sessions; clones share everything.
#[derive(Clone)]
pub struct PrivateChat(Arc<Inner>);

struct Inner {
    printer: Printer,
    sink: Option<Sender<String>>,
    me: Mutex<String>,
    port: u16,
    stopping: AtomicBool,
    next_id: AtomicU64,
    state: Mutex<State>,
    token_added: Condvar,
    /// [`TOKEN_WAIT`], or what `CHINWAG_TOKEN_WAIT` says.
    token_wait: Duration,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Over TLS (see `peer`): the listener's certificate.
    tls: OnceLock<PeerIdentity>,
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, Arc<Session>>,
    /// token -> (user allowed to present it, when registered)
    expected: HashMap<String, (String, Instant)>,
    /// Users whose session ended because they left (for the "no longer available" error).
    gone: HashSet<String>,
}

struct Session {
    id: u64,
    stream: PeerStream,
    write_lock: Mutex<()>,
}

/// How a session's reader loop ended.
enum End {
    Stopped,
    LoggedOut,
}

impl Session {
    fn write(&self, w: &Wire) -> io::Result<()> {
        let _g = self.write_lock.lock();
        write_wire(&self.stream, w)
    }

    fn close(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

fn write_wire(stream: &PeerStream, w: &Wire) -> io::Result<()> {
    let mut line = serde_json::to_vec(w)?;
    line.push(b'\n');
    stream.write_all(&line)
}

/// Reads one line; `Ok(None)` at end of stream, an error for garbage or an overlong line.
fn read_wire(reader: &mut BufReader<PeerStream>) -> io::Result<Option<Wire>> {
    let mut buf = Vec::new();
    if reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)? == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(invalid("overlong or truncated line"));
    }
    Ok(Some(serde_json::from_slice(&buf)?))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, what.to_string())
}

fn unavailable(user: &str) -> String {
    format!("Error. {user} is no longer available for private messaging")
}

impl PrivateChat {
    /// Binds a TCP listener on 0.0.0.0:0 and starts its accept thread. Call [`set_me`]
    /// after login; the port is needed before (it is sent to the server at hello).
    ///
    /// [`set_me`]: PrivateChat::set_me
    pub fn start(printer: Printer) -> io::Result<PrivateChat> {
        PrivateChat::start_with_sink(printer, None)
    }

    /// Like [`start`](PrivateChat::start), and every line printed is also sent to `sink`
    /// (used by tests to see what the user would see).
    pub fn start_with_sink(printer: Printer, sink: Option<Sender<String>>) -> io::Result<Self> {
        PrivateChat::start_with(printer, sink, links::token_wait_from_env())
    }

    /// [`start_with_sink`](PrivateChat::start_with_sink), a hello waiting `token_wait` for
    /// its token.
    pub(super) fn start_with(
        printer: Printer,
        sink: Option<Sender<String>>,
        token_wait: Duration,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(("0.0.0.0", 0))?;
        listener.set_nonblocking(true)?;
        let inner = Arc::new(Inner {
            printer,
            sink,
            me: Mutex::new(String::new()),
            port: listener.local_addr()?.port(),
            stopping: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            state: Mutex::new(State::default()),
            token_added: Condvar::new(),
            token_wait,
            threads: Mutex::new(Vec::new()),
            tls: OnceLock::new(),
        });
        let me = Arc::clone(&inner);
        inner.spawn("private-listen", move || me.accept_loop(listener))?;
        Ok(PrivateChat(inner))
    }

    /// Sets our username (presented in hello when we connect to a peer).
    pub fn set_me(&self, me: &str) {
        *self.0.me.lock() = me.to_string();
    }

    /// Private chat over TLS from now on: the listener presents `identity` (and takes
    /// plain connections only if the identity says so).
    pub fn use_tls(&self, identity: PeerIdentity) {
        let _ = self.0.tls.set(identity);
    }

    /// The listener's certificate fingerprint, once it has one.
    pub fn fingerprint(&self) -> Option<String> {
        self.0.tls.get().map(|id| id.fingerprint().to_string())
    }

    /// The port our private-chat listener is bound to.
    pub fn port(&self) -> u16 {
        self.0.port
    }

    /// We accepted `from`'s request: expect `from` to connect presenting `token` (single
    /// use). A hello that arrives first waits up to 3 s for this call.
    pub fn expect(&self, from: &str, token: &str) {
        let mut st = self.0.state.lock();
        st.expected.retain(|_, (_, at)| at.elapsed() < TOKEN_TTL);
        st.expected
            .insert(token.to_string(), (from.to_string(), Instant::now()));
        self.0.token_added.notify_all();
    }

    /// `user` accepted our request: connects to `addr` and presents `token` on a
    /// background thread, then prints whether the session started.
    pub fn connect(&self, user: &str, addr: &str, token: &str) {
        self.connect_pinned(user, addr, token, None)
    }

    /// [`PrivateChat::connect`], over TLS to a listener presenting `fingerprint` if given.
    pub fn connect_pinned(&self, user: &str, addr: &str, token: &str, fingerprint: Option<&str>) {
        let (inner, user) = (Arc::clone(&self.0), user.to_string());
        let (addr, token) = (addr.to_string(), token.to_string());
        let pin = fingerprint.map(str::to_string);
        if let Err(e) = self.0.spawn("private-out", move || {
            inner.run_outgoing(&user, &addr, &token, pin.as_deref())
        }) {
            log::warn!("private chat: cannot start connect thread: {e}");
        }
    }

    /// Sends `text` to `user`; `Err` holds the error line to show.
    pub fn send(&self, user: &str, text: &str) -> Result<(), String> {
        let session = self.0.session(user)?;
        let msg = Wire::Msg {
            text: text.to_string(),
        };
        if let Err(e) = session.write(&msg) {
            log::debug!("private chat: write to {user} failed: {e}");
            session.close();
            self.0.end(user, session.id, End::LoggedOut);
            return Err(unavailable(user));
        }
        Ok(())
    }

    /// Stops the session with `user`: tells the peer, closes, prints the confirmation.
    pub fn stop(&self, user: &str) -> Result<(), String> {
        let session = self.0.state.lock().sessions.remove(user);
        let session =
            session.ok_or_else(|| format!("Error. No private messaging session with {user}"))?;
        let _ = session.write(&Wire::Stop);
        session.close();
        self.0.say(format!("Private messaging with {user} stopped"));
        Ok(())
    }

    /// Is there a session with `user`?
    pub fn has_session(&self, user: &str) -> bool {
        self.0.state.lock().sessions.contains_key(user)
    }

    /// Logout / timeout / exit: tells every peer we logged out, closes everything, stops
    /// the listener and joins the threads (waiting at most about 2 s). Idempotent.
    pub fn shutdown(&self) {
        let sessions: Vec<Arc<Session>> = {
            let mut st = self.0.state.lock();
            self.0.stopping.store(true, Ordering::SeqCst);
            st.expected.clear();
            st.sessions.drain().map(|(_, s)| s).collect()
        };
        self.0.token_added.notify_all();
        for s in sessions {
            let _ = s.write(&Wire::Bye);
            s.close();
        }
        self.0.join_all();
    }
}

impl Inner {
    fn say(&self, line: String) {
        self.printer.line(&line);
        if let Some(sink) = &self.sink {
            let _ = sink.send(line);
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn spawn(&self, name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let handle = thread::Builder::new().name(name.to_string()).spawn(f)?;
        let mut threads = self.threads.lock();
        threads.retain(|h| !h.is_finished());
        threads.push(handle);
        Ok(())
    }

    /// Joins the threads, waiting at most `JOIN_WAIT`; stragglers are left detached.
    fn join_all(&self) {
        let deadline = Instant::now() + JOIN_WAIT;
        let threads = std::mem::take(&mut *self.threads.lock());
        while Instant::now() < deadline && threads.iter().any(|h| !h.is_finished()) {
            thread::sleep(Duration::from_millis(10));
        }
        let (done, left): (Vec<_>, Vec<_>) = threads.into_iter().partition(|h| h.is_finished());
        if !left.is_empty() {
            log::debug!("private chat: {} threads left running", left.len());
        }
        done.into_iter().for_each(|h| drop(h.join()));
    }

    /// Makes `stream` the session with `user`, replacing any older one; `None` once
    /// shutting down.
    fn register(&self, user: &str, stream: PeerStream) -> Option<Arc<Session>> {
        stream.set_write_timeout(Some(WRITE_TIMEOUT)).ok()?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let session = Arc::new(Session {
            id,
            stream,
            write_lock: Mutex::new(()),
        });
        let mut st = self.state.lock();
        if self.stopping() {
            session.close();
            return None;
        }
        st.gone.remove(user);
        if let Some(old) = st.sessions.insert(user.to_string(), Arc::clone(&session)) {
            old.close();
        }
        Some(session)
    }

    fn read_loop(&self, user: &str, session: &Session, mut reader: BufReader<PeerStream>) {
        let end = loop {
            match read_wire(&mut reader) {
                Ok(Some(Wire::Msg { text })) => {
                    // A peer's text is one line on screen: control characters (a crafted
                    // newline could forge other lines) become spaces, as on the server.
                    let text: String = text
                        .chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .collect();
                    let plain = format!("{user}(private): {text}");
                    let kind = super::look::Kind::Private { to: None };
                    self.printer.chat(&kind, user, &text, &plain, None);
                    if let Some(sink) = &self.sink {
                        let _ = sink.send(plain);
                    }
                }
                Ok(Some(Wire::Stop)) => break End::Stopped,
                Ok(Some(Wire::Bye)) | Ok(None) => break End::LoggedOut,
                Ok(Some(other)) => {
                    log::debug!("private chat: unexpected {other:?} from {user}");
                    break End::LoggedOut;
                }
                Err(e) => {
                    log::debug!("private chat: reading from {user}: {e}");
                    break End::LoggedOut;
                }
            }
        };
        session.close();
        self.end(user, session.id, end);
    }

    /// Removes session `id` with `user` if it is still the current one, and says why.
    fn end(&self, user: &str, id: u64, end: End) {
        {
            let mut st = self.state.lock();
            if st.sessions.get(user).is_none_or(|s| s.id != id) {
                return;
            }
            st.sessions.remove(user);
            if let End::LoggedOut = end {
                st.gone.insert(user.to_string());
            }
        }
        self.say(match end {
            End::Stopped => format!("{user} stopped private messaging"),
            End::LoggedOut => format!("Private messaging with {user} ended as {user} logged out"),
        });
    }

    /// The current session with `user`, or the error line to show.
    fn session(&self, user: &str) -> Result<Arc<Session>, String> {
        let st = self.state.lock();
        match st.sessions.get(user) {
            Some(s) => Ok(Arc::clone(s)),
            None if st.gone.contains(user) => Err(unavailable(user)),
            None => Err(format!("Error. Private messaging to {user} not enabled")),
        }
    }
}

#[path = "private_links.rs"]
mod links;

#[cfg(test)]
#[path = "private_tests.rs"]
mod tests;
