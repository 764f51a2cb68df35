//! The bench's client side on readiness I/O: a few worker threads, each with one `mio`
//! poll, drive every connection of a crowd (thousands per thread), log them in with the
//! per-protocol state machine of `login`, then read what arrives. A line's latency is
//! stamped once per `read` that returned it, before the bytes are parsed.
//!
//! Logins are admitted through a window: at most `window` connections of a crowd are
//! between connect and welcome at any moment; whichever worker finishes one starts the
//! next, so the window stays full without a round trip through the controller. Window 0
//! starts them all at once.

mod read;

use crate::login::{self, Proto, Step};
use crate::net::open;
use crate::stats::Histogram;
use crate::tls::Sock;
use crossbeam_channel::{Receiver, Sender};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Microseconds since the bench process first asked: the clock in every marker.
pub fn now_us() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Times a login that the server reset (or closed) is tried again, as a real client would.
const RETRIES: u32 = 3;
/// Wait before such a retry.
const RETRY_AFTER: Duration = Duration::from_millis(200);
const WAKE: Token = Token(usize::MAX);

/// What a crowd's workers share.
pub struct Shared {
    pub proto: Proto,
    /// The server's ports: client `i` connects to `addrs[i % len]` (a cluster's nodes).
    pub addrs: Vec<SocketAddr>,
    /// Lines carrying this marker are timed and counted; empty = time nothing.
    pub marker: &'static str,
    /// IRC: join the bench channel before counting as welcomed.
    pub join: bool,
    /// Client numbers `first..first + n`.
    pub first: usize,
    pub n: usize,
    /// Logins in flight at most (0 = all at once).
    pub window: usize,
    /// The next client (offset from `first`) to start.
    pub next: AtomicUsize,
    /// Timed lines received by the whole crowd.
    pub received: AtomicU64,
    pub events: Sender<Event>,
    /// `chinwag-tls`: clients connect with TLS under this configuration.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// What the controller hears about each client.
pub enum Event {
    Welcomed {
        index: usize,
        sock: Arc<Sock>,
        started_us: u64,
        welcomed_us: u64,
        reconnects: u32,
    },
    Failed {
        index: usize,
        error: String,
    },
}

enum Cmd {
    Start(usize),
    Stop,
}

/// What one worker timed.
#[derive(Default)]
pub struct Seen {
    pub hist: Histogram,
    pub last_us: u64,
}

/// One worker thread and the way to reach it.
pub struct Worker {
    tx: Sender<Cmd>,
    waker: Arc<Waker>,
    thread: JoinHandle<Seen>,
}

impl Worker {
    pub fn spawn(shared: Arc<Shared>, id: usize) -> io::Result<Worker> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread = thread::Builder::new()
            .name(format!("bench-worker-{id}"))
            .spawn(move || Loop::new(poll, shared).run(&rx))?;
        Ok(Worker { tx, waker, thread })
    }

    pub fn start(&self, index: usize) {
        let _ = self.tx.send(Cmd::Start(index));
        let _ = self.waker.wake();
    }

    pub fn stop(self) -> Seen {
        let _ = self.tx.send(Cmd::Stop);
        let _ = self.waker.wake();
        self.thread.join().unwrap_or_default()
    }
}

/// One connection as a worker sees it.
struct Conn {
    sock: Arc<Sock>,
    index: usize,
    step: Step,
    partial: Vec<u8>,
    started_us: u64,
    reconnects: u32,
}

struct Loop {
    poll: Poll,
    shared: Arc<Shared>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// Clients to reconnect, with their start time and retry count, when due.
    retry: Vec<(Instant, usize, u64, u32)>,
    buf: Vec<u8>,
    finder: memchr::memmem::Finder<'static>,
    seen: Seen,
}

impl Loop {
    fn new(poll: Poll, shared: Arc<Shared>) -> Loop {
        let finder = memchr::memmem::Finder::new(shared.marker.as_bytes());
        Loop {
            poll,
            shared,
            conns: Vec::new(),
            free: Vec::new(),
            retry: Vec::new(),
            buf: vec![0; 64 * 1024],
            finder,
            seen: Seen::default(),
        }
    }

    fn run(mut self, rx: &Receiver<Cmd>) -> Seen {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self
                .retry
                .iter()
                .map(|r| r.0.saturating_duration_since(Instant::now()))
                .min();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return self.seen;
                }
            }
            for ev in events.iter() {
                if ev.token() == WAKE {
                    while let Ok(cmd) = rx.try_recv() {
                        match cmd {
                            Cmd::Start(i) => self.start(i, now_us(), 0),
                            Cmd::Stop => return self.seen,
                        }
                    }
                } else {
                    let gone = ev.is_error() || ev.is_read_closed() || ev.is_write_closed();
                    self.ready(ev.token().0, gone);
                }
            }
            self.due_retries();
        }
    }

    fn due_retries(&mut self) {
        let now = Instant::now();
        let due: Vec<_> = self.retry.iter().filter(|r| r.0 <= now).copied().collect();
        self.retry.retain(|r| r.0 > now);
        for (_, index, started, tries) in due {
            self.start(index, started, tries);
        }
    }

    fn start(&mut self, index: usize, started_us: u64, reconnects: u32) {
        if let Err(e) = self.connect(index, started_us, reconnects) {
            self.give_up(index, e);
        }
    }

    /// Starts a non-blocking connect for client `index`.
    fn connect(&mut self, index: usize, started_us: u64, reconnects: u32) -> Result<(), String> {
        let tcp = open(self.shared.addrs[index % self.shared.addrs.len()], index)
            .map_err(|e| format!("connect: {e}"))?;
        let sock = Sock::new(tcp, self.shared.tls.as_ref()).map_err(|e| format!("tls: {e}"))?;
        let sock = Arc::new(sock);
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let fd = sock.as_raw_fd();
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut SourceFd(&fd), Token(slot), interest)
        {
            self.free.push(slot);
            return Err(format!("register: {e}"));
        }
        self.conns[slot] = Some(Conn {
            sock,
            index,
            step: Step::Connecting,
            partial: Vec::new(),
            started_us,
            reconnects,
        });
        Ok(())
    }

    /// A client failed for good: tell the controller and let the next one in.
    fn give_up(&mut self, index: usize, error: String) {
        let _ = self.shared.events.send(Event::Failed { index, error });
        self.admit_next();
    }

    /// Starts the next client of the window (a loop, not recursion, when connects fail
    /// at once, e.g. out of file descriptors).
    fn admit_next(&mut self) {
        if self.shared.window == 0 {
            return;
        }
        loop {
            let k = self.shared.next.fetch_add(1, Ordering::Relaxed);
            if k >= self.shared.n {
                return;
            }
            let index = self.shared.first + k;
            match self.connect(index, now_us(), 0) {
                Ok(()) => return,
                Err(error) => {
                    let _ = self.shared.events.send(Event::Failed { index, error });
                }
            }
        }
    }

    fn close(&mut self, slot: usize) -> Option<Conn> {
        let conn = self.conns.get_mut(slot)?.take()?;
        let fd = conn.sock.as_raw_fd();
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        self.free.push(slot);
        Some(conn)
    }

    /// The socket in `slot` is readable or writable, or `gone` (failed or closed).
    fn ready(&mut self, slot: usize, gone: bool) {
        let Some(conn) = self.conns.get_mut(slot).and_then(|c| c.as_mut()) else {
            return;
        };
        if conn.step == Step::Connecting {
            match conn.sock.take_error() {
                Ok(None) if conn.sock.peer_addr().is_ok() => {}
                // Connected and reset before we looked, or not connected yet.
                Ok(None) if gone => return self.failed(slot, "connection closed".into()),
                Ok(None) => return,
                Ok(Some(e)) | Err(e) => return self.failed(slot, format!("connect: {e}")),
            }
            let fd = conn.sock.as_raw_fd();
            let _ = self.poll.registry().reregister(
                &mut SourceFd(&fd),
                Token(slot),
                Interest::READABLE,
            );
            let step = login::first(self.shared.proto, &conn.sock, conn.index);
            match step {
                Ok(s) => conn.step = s,
                Err(e) => return self.failed(slot, e),
            }
        }
        self.drain(slot);
    }

    /// A connection ended. During login a reset or close is retried (counted); after it,
    /// the connection is just dropped.
    fn failed(&mut self, slot: usize, error: String) {
        let Some(conn) = self.close(slot) else {
            return;
        };
        if conn.step == Step::Ready {
            return;
        }
        let reset = error.contains("os error 104") || error.contains("closed");
        if reset && conn.reconnects < RETRIES {
            let at = Instant::now() + RETRY_AFTER;
            self.retry
                .push((at, conn.index, conn.started_us, conn.reconnects + 1));
        } else {
            self.give_up(conn.index, error);
        }
    }
}
