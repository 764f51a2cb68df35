//! Each connection's outbox and the writer thread that drains it.
//!
//! Senders never touch a socket: they push an encoded line into a queue capped at
//! [`OUTBOX_CAPACITY`] and move on. The writer thread owns the sending side of the socket;
//! it drains whatever is queued into a `BufWriter` and flushes only when the queue is
//! empty, so a burst to a thousand clients costs one `write` per client per burst rather
//! than per line (measured in DESIGN.md: ~1.4M lines/s batched against ~0.33M unbatched). A
//! queue that fills up means the client stopped reading: the connection is shut down rather
//! than letting it hold memory or delay anyone else.

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, MutexGuard};
use std::io::{BufWriter, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lines a client may fall behind by before it is disconnected.
pub const OUTBOX_CAPACITY: usize = 8192;

/// After writing a batch of nothing but [`Out::Notice`]s the writer waits up to this long
/// before it looks again, so that while thousands of users log in at once each client is
/// woken a few times a second for the whole burst of presence notices rather than once
/// per notice (that wake-up per line per client is what capped a 5,000-client login storm
/// at ~2,000 logins in 300 s on 2 cores). Notices queued meanwhile do not wake it; any
/// other line does, through the connection's wake channel, so chat is never held back.
pub const NOTICE_LINGER: Duration = Duration::from_millis(250);

/// One item for the writer thread.
pub enum Out {
    /// An encoded line (shared, so a broadcast encodes once).
    Line(Arc<[u8]>),
    /// A presence notice: written like a line, but see [`NOTICE_LINGER`].
    Notice(Arc<[u8]>),
    /// A download: encoded frames from a small bounded channel, written in order until
    /// the sender hangs up. Lines queued meanwhile wait, so frames are never split.
    Stream(Receiver<Vec<u8>>),
    /// Flush, then shut the connection down.
    Close,
}

/// The server's handle on one connection: its outbox and its socket (for shutdown only).
#[derive(Clone)]
pub struct Conn {
    outbox: Sender<Out>,
    sock: Arc<TcpStream>,
    /// Held by the writer while it writes a batch; a session holds it to keep queued
    /// lines back until its bookkeeping is done (login: userlog.txt is written before
    /// the client can read its welcome).
    gate: Arc<Mutex<()>>,
    /// Ends a writer's notice linger early: signalled by every item but a notice.
    wake: Sender<()>,
}

/// The writer thread's ends of a connection's queues.
pub struct Inbox {
    items: Receiver<Out>,
    wake: Receiver<()>,
}

impl Conn {
    /// Creates the outbox; the receiver goes to [`run_writer`].
    pub fn new(sock: Arc<TcpStream>) -> (Conn, Inbox) {
        // Unbounded with a length check rather than `bounded(OUTBOX_CAPACITY)`: a bounded
        // channel allocates and touches all its slots up front (256 KiB per connection,
        // 1.25 GB for 5,000 idle clients); this one grows in small blocks as lines queue.
        let (tx, rx) = crossbeam_channel::unbounded();
        let gate = Arc::new(Mutex::new(()));
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        let conn = Conn {
            outbox: tx,
            sock,
            gate,
            wake: wake_tx,
        };
        (
            conn,
            Inbox {
                items: rx,
                wake: wake_rx,
            },
        )
    }

    /// Keeps the writer from sending anything until the guard is dropped; lines queued
    /// meanwhile keep their order.
    pub fn hold(&self) -> MutexGuard<'_, ()> {
        self.gate.lock()
    }

    /// The gate the writer thread takes around each batch.
    pub fn gate(&self) -> Arc<Mutex<()>> {
        self.gate.clone()
    }

    /// Queues without blocking. A full queue disconnects the client; returns false then.
    pub fn send(&self, out: Out) -> bool {
        if self.outbox.len() >= OUTBOX_CAPACITY {
            log::warn!("outbox full: disconnecting {:?}", self.sock.peer_addr());
            self.kill();
            return false;
        }
        let urgent = !matches!(out, Out::Notice(_));
        // Unbounded: the only failure is a writer that has already gone.
        if self.outbox.send(out).is_err() {
            return false;
        }
        if urgent {
            // Full means a wake-up is already pending: nothing to add.
            let _ = self.wake.try_send(());
        }
        true
    }

    /// Queues, waiting for room: only for the connection's own session thread streaming a
    /// download, where waiting on its own slow client delays nobody else.
    pub fn send_blocking(&self, out: Out) -> bool {
        // The writer drains or dies within its socket's write timeout.
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.outbox.len() >= OUTBOX_CAPACITY {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let sent = self.outbox.send(out).is_ok();
        let _ = self.wake.try_send(());
        sent
    }

    /// Encodes and queues one protocol message.
    pub fn send_msg<T: serde::Serialize>(&self, msg: &T) -> bool {
        self.send(Out::Line(crate::protocol::encode(msg).into()))
    }

    /// Ends the connection at once: both the reader and the writer see it closed.
    pub fn kill(&self) {
        let _ = self.sock.shutdown(Shutdown::Both);
    }
}

/// The writer thread's body: drain, batch, flush; exit on `Close`, on a write error, or
/// when every sender is gone. Always shuts the socket down on the way out so the reader
/// thread wakes up too.
pub fn run_writer(sock: Arc<TcpStream>, inbox: Inbox, gate: Arc<Mutex<()>>) {
    let Inbox { items: rx, wake } = inbox;
    let mut w = BufWriter::with_capacity(64 * 1024, &*sock);
    'outer: while let Ok(first) = rx.recv() {
        let _held = gate.lock();
        let mut next = Some(first);
        let mut only_notices = true;
        while let Some(item) = next {
            only_notices &= matches!(item, Out::Notice(_));
            let res = match item {
                Out::Line(line) | Out::Notice(line) => w.write_all(&line),
                Out::Stream(chunks) => chunks.iter().try_for_each(|c| w.write_all(&c)),
                Out::Close => break 'outer,
            };
            if res.is_err() {
                break 'outer;
            }
            next = rx.try_recv().ok();
        }
        if w.flush().is_err() {
            break;
        }
        if only_notices {
            drop(_held);
            linger(&rx, &wake);
        }
    }
    let _ = w.flush();
    let _ = sock.shutdown(Shutdown::Both);
}

/// Waits up to [`NOTICE_LINGER`] unless something other than a notice is queued. Stale
/// wake-ups are cleared first; anything queued before that was cleared is seen by the
/// emptiness check, anything after it signals again.
fn linger(rx: &Receiver<Out>, wake: &Receiver<()>) {
    while wake.try_recv().is_ok() {}
    if rx.is_empty() {
        let _ = wake.recv_timeout(NOTICE_LINGER);
    }
}
