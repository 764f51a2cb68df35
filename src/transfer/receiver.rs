//! The audience side: [`Receiver`] owns one UDP socket and one background
//! thread for the whole login session, multiplexing any number of incoming
//! transfers keyed by (source address, session id).
//!
//! A transfer is admitted only by a START carrying a token previously
//! registered with [`Receiver::expect`]; the token is consumed on first use
//! and unknown tokens get no reply at all. The thread drains the socket
//! without blocking, acks in batches, flushes pending acks whenever the
//! socket runs dry, and blocks with a short timeout only when idle so the
//! shutdown flag is always noticed.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use parking_lot::Mutex;

use super::lossy::{LossConfig, LossySocket};
use super::session::{Outcome, Session, Start};
use super::wire::{self, Packet};
use super::{bind_udp, valid_file_name, RecvEvent, RecvProgress};
use super::{MAX_INCOMING, WINDOW};

#[path = "receiver_start.rs"]
mod start;

/// How long a finished session lingers to answer a repeated FIN.
const LINGER: Duration = Duration::from_secs(10);
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// How long a dry socket may hold back pending acks (well under the sender's minimum
/// RTO and a small part of the time its window lasts).
const ACK_DELAY: Duration = Duration::from_micros(500);
const HOUSEKEEPING: Duration = Duration::from_millis(100);

/// Expected transfers by token: (from, file).
type Expected = Arc<Mutex<HashMap<String, (String, String)>>>;

/// Receives files for one logged-in client; see the module docs.
pub struct Receiver {
    port: u16,
    expected: Expected,
    pub(super) keys: super::sealed::Keyring, // sealed transfers' (see `sealed`)
    events: Sender<RecvEvent>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Bind `addr`, saving files into `dir` and reporting on `events`.
    pub fn bind(
        addr: SocketAddr,
        dir: PathBuf,
        loss: LossConfig,
        events: Sender<RecvEvent>,
    ) -> io::Result<Receiver> {
        Receiver::bind_with_progress(addr, dir, loss, events, None)
    }

    /// Like [`bind`](Receiver::bind), reporting each upload's progress on `progress`.
    pub fn bind_with_progress(
        addr: SocketAddr,
        dir: PathBuf,
        loss: LossConfig,
        events: Sender<RecvEvent>,
        progress: Option<Sender<RecvProgress>>,
    ) -> io::Result<Receiver> {
        Receiver::start(addr, dir, loss, events, progress, None)
    }

    /// [`bind`](Receiver::bind) with no loss, a peer gone after `peer_timeout` of
    /// silence (tests).
    #[cfg(test)]
    pub(crate) fn bind_timing_out(
        addr: SocketAddr,
        dir: PathBuf,
        events: Sender<RecvEvent>,
        peer_timeout: Duration,
    ) -> io::Result<Receiver> {
        let loss = LossConfig::default();
        Receiver::start(addr, dir, loss, events, None, Some(peer_timeout))
    }

    fn start(
        addr: SocketAddr,
        dir: PathBuf,
        loss: LossConfig,
        events: Sender<RecvEvent>,
        progress: Option<Sender<RecvProgress>>,
        peer_timeout: Option<Duration>,
    ) -> io::Result<Receiver> {
        let udp = bind_udp(addr)?;
        let port = udp.local_addr()?.port();
        let expected: Expected = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let mut sock = LossySocket::new(udp, false, loss, 0xAC4E)?;
        let keys = super::sealed::Seals::audience(&mut sock);
        if let Some(t) = peer_timeout {
            sock.peer_timeout = t;
        }
        let mut worker = Worker {
            sock,
            dir,
            expected: expected.clone(),
            events: events.clone(),
            progress,
            stop: stop.clone(),
            sessions: HashMap::new(),
            ctl: Vec::with_capacity(600),
        };
        let thread = std::thread::Builder::new()
            .name("udp-receiver".into())
            .spawn(move || worker.run())?;
        Ok(Receiver {
            port,
            expected,
            keys,
            events,
            stop,
            thread: Some(thread),
        })
    }

    pub fn local_port(&self) -> u16 {
        self.port
    }

    /// Register a one-time `token` for file `file` from user `from`. Hostile
    /// names are refused at once with a `Failed` event.
    pub fn expect(&self, token: &str, from: &str, file: &str) {
        if !valid_file_name(from) || !valid_file_name(file) || token.is_empty() {
            let _ = self.events.send(RecvEvent::Failed {
                from: from.to_string(),
                file: file.to_string(),
                reason: "invalid file name".into(),
            });
            return;
        }
        self.expected
            .lock()
            .insert(token.to_string(), (from.to_string(), file.to_string()));
    }

    /// Stop the thread (aborting transfers in progress) and wait for it.
    pub fn shutdown(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// State owned by the receiving thread.
struct Worker {
    sock: LossySocket,
    dir: PathBuf,
    expected: Expected,
    events: Sender<RecvEvent>,
    progress: Option<Sender<RecvProgress>>,
    stop: Arc<AtomicBool>,
    sessions: HashMap<(SocketAddr, u32), Session>,
    ctl: Vec<u8>,
}

impl Worker {
    fn run(&mut self) {
        let mut rbuf = vec![0u8; 2048];
        let mut last_chores = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            match self.recv(&mut rbuf) {
                Ok(Some((n, from))) => self.dispatch(&rbuf[..n], from),
                Ok(None) => {}
                Err(e) => {
                    log::warn!("udp receiver: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            if last_chores.elapsed() >= HOUSEKEEPING {
                self.housekeeping();
                last_chores = Instant::now();
            }
        }
        self.close_all();
    }

    /// Next datagram. When the socket is empty, wait a moment first: a receiver faster
    /// than its sender would otherwise run dry after nearly every datagram and ack each
    /// one, which costs both sides a syscall and a wake-up per datagram. Only if nothing
    /// comes within `ACK_DELAY` are pending acks flushed (the sender may be waiting on
    /// them) before blocking for longer.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        if let Some(got) = self.sock.try_recv(buf)? {
            return Ok(Some(got));
        }
        if self.sessions.values().any(Session::needs_ack) {
            if let Some(got) = self.sock.wait_recv(buf, ACK_DELAY)? {
                return Ok(Some(got));
            }
        }
        self.flush_acks();
        self.sock.wait_recv(buf, IDLE_WAIT)
    }

    fn send_ctl(&mut self, to: SocketAddr) {
        if let Err(e) = self.sock.send(&self.ctl, to) {
            log::debug!("udp receiver send to {to}: {e}");
        }
    }

    fn dispatch(&mut self, buf: &[u8], from: SocketAddr) {
        match wire::parse(buf) {
            Some(Packet::Start {
                sid,
                size,
                chunk,
                token,
                name,
            }) => self.on_start(from, sid, size, chunk, token, name),
            Some(Packet::Data {
                sid,
                seq,
                ts,
                payload,
            }) => self.on_data(from, sid, seq, ts, payload),
            Some(Packet::Fin { sid, hash }) => self.on_fin(from, sid, &hash),
            Some(Packet::Abort { sid, reason, .. }) => {
                let why = format!("presenter aborted: {reason}");
                self.fail((from, sid), wire::ABORT_SENDER, &why, false);
            }
            _ => {}
        }
    }

    fn on_data(&mut self, from: SocketAddr, sid: u32, seq: u32, ts: u32, payload: &[u8]) {
        let Some(s) = self.sessions.get_mut(&(from, sid)) else {
            return;
        };
        s.last_heard = Instant::now();
        if let Some(tx) = self.progress.as_ref().filter(|_| s.due_report()) {
            let _ = tx.send(s.progress());
        }
        match s.on_data(seq, ts, payload) {
            Ok(true) => {
                s.ack(&mut self.ctl);
                self.send_ctl(from);
            }
            Ok(false) => {}
            Err(e) => self.fail(
                (from, sid),
                wire::ABORT_IO,
                &format!("write failed: {e}"),
                true,
            ),
        }
    }

    fn on_fin(&mut self, from: SocketAddr, sid: u32, hash: &[u8; 32]) {
        let Some(s) = self.sessions.get_mut(&(from, sid)) else {
            return;
        };
        s.last_heard = Instant::now();
        let was_open = s.is_open();
        let ev = match s.on_fin(hash) {
            None => {
                s.ack(&mut self.ctl);
                return self.send_ctl(from);
            }
            Some(Outcome::Saved(path)) => {
                wire::fin_ack(&mut self.ctl, sid);
                RecvEvent::Received {
                    from: s.from.clone(),
                    file: s.file.clone(),
                    saved_as: path,
                }
            }
            Some(Outcome::Failed(code, why)) => {
                wire::abort(&mut self.ctl, sid, code, &why);
                RecvEvent::Failed {
                    from: s.from.clone(),
                    file: s.file.clone(),
                    reason: why,
                }
            }
        };
        self.send_ctl(from);
        if was_open {
            self.event(ev);
        }
    }

    /// End an open session with a failure; optionally tell the peer.
    fn fail(&mut self, key: (SocketAddr, u32), code: u8, why: &str, notify: bool) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        if !s.is_open() {
            return;
        }
        s.finish(Outcome::Failed(code, why.to_string()));
        let ev = RecvEvent::Failed {
            from: s.from.clone(),
            file: s.file.clone(),
            reason: why.to_string(),
        };
        if notify {
            wire::abort(&mut self.ctl, key.1, code, why);
            self.send_ctl(key.0);
        }
        self.event(ev);
    }

    fn event(&self, ev: RecvEvent) {
        let _ = self.events.send(ev);
    }

    fn flush_acks(&mut self) {
        for (&(addr, _), s) in self.sessions.iter_mut() {
            if s.needs_ack() {
                s.ack(&mut self.ctl);
                let _ = self.sock.send(&self.ctl, addr);
            }
        }
        let _ = self.sock.flush_held();
    }

    /// Time out silent peers and forget long-finished sessions.
    fn housekeeping(&mut self) {
        let timeout = self.sock.peer_timeout;
        let stale: Vec<_> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.is_open() && s.last_heard.elapsed() > timeout)
            .map(|(k, _)| *k)
            .collect();
        for key in stale {
            self.fail(key, wire::ABORT_TIMEOUT, "peer not responding", true);
        }
        self.sessions.retain(|_, s| {
            s.outcome
                .as_ref()
                .is_none_or(|(_, at)| at.elapsed() < LINGER)
        });
    }

    /// Shutdown: abort everything still open (temp files go with the sessions).
    fn close_all(&mut self) {
        let open: Vec<_> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.is_open())
            .map(|(k, _)| *k)
            .collect();
        for key in open {
            self.fail(key, wire::ABORT_SHUTDOWN, "receiver shut down", true);
        }
        let _ = self.sock.flush_held();
        self.sessions.clear();
    }
}
