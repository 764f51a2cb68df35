//! Each connection's outbox: a queue of encoded lines bounded in bytes, written through
//! by whoever queued them and finished by one shared flusher thread.
//!
//! Senders never block on a socket: they push an encoded line (shared, so a broadcast is
//! encoded once for all its recipients) and move on. Who writes it:
//!
//! - **Write-through.** A session thread handling requests opens a [`WriteThrough`]
//!   scope; lines it queues inside do not wake anyone, and when the scope ends (after
//!   every state lock is released) it writes each connection it queued for with one
//!   non-blocking vectored `send` carrying everything queued there. Waking a thread per
//!   delivered line costs far more than the write (perf, 1,000 clients at 100
//!   broadcasts/s: 86% of server samples were writer threads switching).
//! - **The flusher.** Bytes a socket would not take at once (a slow reader, a download)
//!   and lines queued outside any scope (the syncer's confirmations, the timer's goodbyes)
//!   go to one shared thread ([`flusher`]), which writes them and waits for full sockets
//!   to become writable with epoll readiness (mio). No per-connection writer thread.
//! - **Presence notices** are not queued per recipient: each is published once to the
//!   server's [`Feed`], which every logged-in client's queue reads from a cursor of its
//!   own, in order with its other lines. The flusher writes them at most once per
//!   [`NOTICE_LINGER`], so a login storm of 5,000 users (12.5 M notices) costs each
//!   client a few writes a second, and the `core` lock one append per login.
//!
//! One writer at a time per connection (the `writing` flag, taken under the queue's
//! mutex, never held across a `send`), and items leave the queue only from its front, so
//! lines reach the client in queue order whoever writes them. What is queued is bounded
//! by [`MAX_QUEUED`] bytes: past it the client is disconnected and its queue dropped;
//! nobody else waits.

mod feed;
#[cfg(test)]
mod feed_tests;
mod flusher;
mod guards;
mod scope;
#[cfg(test)]
mod tests;
mod write;

pub use feed::{Feed, Notice};
pub use guards::{Hold, Stream};
pub use scope::WriteThrough;

use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Bytes that may wait for one client before it is disconnected.
pub const MAX_QUEUED: usize = 4 << 20;
/// What one queued item costs beyond its bytes (its slot and its share of the line).
const ITEM_COST: usize = 32;
/// A sender that may wait (a download, a long reply) waits until at most this much is
/// queued, so one transfer never holds more than this in memory.
const ROOM: usize = 512 << 10;
/// How long a waiting sender waits for room before giving up on the connection.
const ROOM_TIMEOUT: Duration = Duration::from_secs(60);
/// A client that takes no bytes for this long while some wait for it is disconnected.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// At most one write of presence notices per client per this long (see the module docs).
pub const NOTICE_LINGER: Duration = Duration::from_millis(250);
/// Buffers handed to one vectored `send`, and bytes at most.
const MAX_IOV: usize = 512;
const MAX_SEND: usize = 256 << 10;
/// Sends one write-through makes before leaving the rest to the flusher.
const MAX_ROUNDS: usize = 4;

pub use flusher::start as start_flusher;

/// One item for a connection.
pub enum Out {
    /// An encoded line (shared, so a broadcast encodes once).
    Line(Arc<[u8]>),
    /// Write what is queued, then shut the connection down. Nothing queued after it goes.
    Close,
}

/// The server's handle on one connection: its outbox and its socket. Cheap to clone.
#[derive(Clone)]
pub struct Conn(Arc<Shared>);

struct Shared {
    sock: Arc<TcpStream>,
    /// Set once, before any request is read, on a TLS connection (see `server::secure`).
    tls: OnceLock<Arc<super::secure::TlsLink>>,
    q: Mutex<Queue>,
    /// Signalled when bytes leave the queue, for senders waiting for room.
    room: Condvar,
}

/// A connection's queue and who is doing what with it; all behind one mutex that is
/// never held across a socket write.
#[derive(Default)]
struct Queue {
    items: VecDeque<Arc<[u8]>>,
    /// Bytes of `items.front()` already sent.
    sent: usize,
    /// While a download streams: lines others queued, which wait behind its frames.
    behind: VecDeque<Arc<[u8]>>,
    streaming: bool,
    /// Bytes in `behind`, with [`ITEM_COST`] each (also counted in `bytes`).
    behind_bytes: usize,
    /// Bytes queued in `items` and `behind`, with [`ITEM_COST`] each.
    bytes: usize,
    /// Someone is writing to the socket now; they write until the queue is empty.
    writing: bool,
    /// Holds (see [`Conn::hold`]): nothing is written while any is held.
    held: u32,
    /// The socket took nothing more: only the flusher writes, once it is writable.
    parked: bool,
    /// In the flusher's list of connections to write.
    handed: bool,
    /// The presence feed this client reads, while logged in.
    sub: Option<feed::Sub>,
    /// Since when the socket has taken nothing while bytes wait.
    stalled_since: Option<Instant>,
    close: bool,
    dead: bool,
    /// Senders waiting for room.
    waiters: u32,
}

/// What a write left to do.
#[derive(Debug, PartialEq)]
enum Status {
    /// Everything queued was written (or the connection closed).
    Done,
    /// The socket is full: the flusher writes the rest once it is writable.
    Parked,
    /// Someone else writes it (a writer is busy, or a hold keeps it back).
    Elsewhere,
    /// More is queued than one write-through sends.
    More,
}

/// Who asks a connection to write.
#[derive(Clone, Copy, PartialEq)]
enum By {
    /// A thread that queued lines (a write-through, a waiting sender).
    Sender,
    /// The flusher, for a connection in its list.
    Handed,
    /// The flusher, in its pass over a feed's subscribers.
    Feed,
    /// The flusher, the socket having become writable.
    Writable,
}

impl Conn {
    /// The outbox of a freshly accepted socket.
    pub fn new(sock: Arc<TcpStream>) -> Conn {
        Conn(Arc::new(Shared {
            sock,
            tls: OnceLock::new(),
            q: Mutex::new(Queue::default()),
            room: Condvar::new(),
        }))
    }

    /// Queues without blocking. A full queue disconnects the client; returns false then,
    /// or if the connection is closed or closing.
    pub fn send(&self, out: Out) -> bool {
        match out {
            Out::Line(line) => self.push(line, false),
            Out::Close => {
                let mut q = self.0.q.lock();
                if q.dead {
                    return false;
                }
                q.close = true;
                q.end_feed();
                self.schedule(q);
                true
            }
        }
    }

    /// Waits until everything queued so far has been written to the socket (the offline
    /// backlog is recorded as delivered only then). False if the connection died or
    /// `within` passed first. Woken by the `room` signal: every write ends in `settle`,
    /// and a death in `die`, both of which signal under the queue's lock while anyone
    /// waits, and a waiter counts itself under that lock, so no signal is missed.
    pub fn drained(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut q = self.0.q.lock();
        loop {
            if q.dead {
                return false;
            }
            if q.items.is_empty() && q.behind.is_empty() && !q.writing {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            q.waiters += 1;
            self.0.room.wait_until(&mut q, deadline);
            q.waiters -= 1;
        }
    }

    /// Encodes and queues one protocol message.
    pub fn send_msg<T: serde::Serialize>(&self, msg: &T) -> bool {
        self.send(Out::Line(crate::protocol::encode(msg).into()))
    }

    /// Queues a line (or a download's `frame`), then has it written: at the end of this
    /// thread's [`WriteThrough`] scope if one is open, else by the flusher.
    fn push(&self, line: Arc<[u8]>, frame: bool) -> bool {
        let mut q = self.0.q.lock();
        if !self.enqueue(&mut q, line, frame) {
            return false;
        }
        self.schedule(q);
        true
    }

    /// Adds to the queue, after the presence notices published before it (a download's
    /// frames excepted: notices wait behind them like other lines).
    fn enqueue(&self, q: &mut Queue, line: Arc<[u8]>, frame: bool) -> bool {
        if q.dead || q.close || !(frame || self.pull(q, usize::MAX)) {
            return false;
        }
        self.put(q, line, frame)
    }

    /// Adds to the queue unless it would pass [`MAX_QUEUED`], which disconnects (a
    /// closing queue still takes the notices published before its close).
    fn put(&self, q: &mut Queue, line: Arc<[u8]>, frame: bool) -> bool {
        if q.dead {
            return false;
        }
        let cost = line.len() + ITEM_COST;
        if q.bytes + cost > MAX_QUEUED {
            log::warn!("outbox full: disconnecting {:?}", self.0.sock.peer_addr());
            self.die(q);
            return false;
        }
        q.bytes += cost;
        if q.streaming && !frame {
            q.behind_bytes += cost;
            q.behind.push_back(line);
        } else {
            q.items.push_back(line);
        }
        true
    }

    /// Arranges for what is queued to be written: deferred to this thread's write-through
    /// scope, or handed to the flusher. Takes the queue's guard so it is released first.
    fn schedule(&self, mut q: parking_lot::MutexGuard<'_, Queue>) {
        if q.parked || scope::defer(self) {
            return;
        }
        let hand = !std::mem::replace(&mut q.handed, true);
        drop(q);
        if hand {
            flusher::get().hand(self.clone());
        }
    }

    /// Queues, waiting for room first: only for the connection's own session thread (a
    /// download, a long reply), where waiting on its own slow client delays nobody else.
    /// Writes at once rather than at a scope's end, since it may wait on what it queued.
    pub fn send_blocking(&self, out: Out) -> bool {
        match out {
            Out::Line(line) => self.push_waiting(line, false),
            other => self.send(other),
        }
    }

    fn push_waiting(&self, line: Arc<[u8]>, frame: bool) -> bool {
        let deadline = Instant::now() + ROOM_TIMEOUT;
        let mut q = self.0.q.lock();
        while q.bytes - q.behind_bytes > ROOM && !q.dead {
            if !q.parked && !q.writing && q.held == 0 {
                drop(q);
                self.write_now();
                q = self.0.q.lock();
                continue;
            }
            q.waiters += 1;
            let timed_out = self.0.room.wait_until(&mut q, deadline).timed_out();
            q.waiters -= 1;
            if timed_out {
                return false;
            }
        }
        if !self.enqueue(&mut q, line, frame) {
            return false;
        }
        drop(q);
        self.write_now();
        true
    }

    /// Writes from this (sending) thread, leaving what it cannot finish to the flusher.
    fn write_now(&self) {
        if self.write(By::Sender) == Status::More {
            self.hand();
        }
    }

    /// Puts the connection in the flusher's list, unless it is there already.
    pub(super) fn hand(&self) {
        let hand = !std::mem::replace(&mut self.0.q.lock().handed, true);
        if hand {
            flusher::get().hand(self.clone());
        }
    }

    /// Marks the connection dead, drops its queue and shuts the socket down.
    fn die(&self, q: &mut Queue) {
        q.dead = true;
        q.sub = None;
        q.items = VecDeque::new();
        q.behind = VecDeque::new();
        q.bytes = 0;
        q.behind_bytes = 0;
        let _ = self.0.sock.shutdown(Shutdown::Both);
        self.0.room.notify_all();
    }

    /// How long the socket has taken nothing while bytes wait for it.
    fn stalled_for(&self, now: Instant) -> Duration {
        let q = self.0.q.lock();
        q.stalled_since.map_or(Duration::ZERO, |t| now - t)
    }

    /// Ends the connection at once: the session's read ends, the queue is dropped.
    pub fn kill(&self) {
        let mut q = self.0.q.lock();
        self.die(&mut q);
    }

    /// Bytes queued for this connection now (for tests and diagnostics).
    pub fn queued(&self) -> usize {
        self.0.q.lock().bytes
    }

    /// Keeps anything from being written until the guard is dropped (login: userlog.txt
    /// is written before the client can read its welcome); lines queued meanwhile keep
    /// their order.
    pub fn hold(&self) -> Hold<'_> {
        self.0.q.lock().held += 1;
        Hold(self)
    }

    /// Starts a download: until the guard is dropped, lines others queue wait behind
    /// the frames sent with [`Stream::frame`], so frames are never split.
    pub fn stream(&self) -> Stream<'_> {
        self.0.q.lock().streaming = true;
        Stream(self)
    }

    fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.0.sock.as_raw_fd()
    }

    /// Identifies the connection while a handle on it is alive (the flusher's key).
    fn key(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}
