//! Each connection's outbox and the writer thread that drains it.
//!
//! Senders never touch a socket: they push an encoded line into a bounded queue and move
//! on. The writer thread owns the sending side of the socket; it drains whatever is queued
//! into a `BufWriter` and flushes only when the queue is empty, so a burst to a thousand
//! clients costs one `write` per client per burst rather than per line (measured in
//! DESIGN.md: ~1.4M lines/s batched against ~0.33M unbatched). A queue that fills up means
//! the client stopped reading: the connection is shut down rather than letting it hold
//! memory or delay anyone else.
//!
//! Under a flood the writer lingers: once a connection has been sent more than
//! [`FLOOD_LINES`] lines in the last [`FLOOD_WINDOW`], its writer waits [`LINGER`] after
//! waking so that one wake-up and one `write` carry many lines. Without this, 5,000
//! clients logging in at once cost one thread wake-up per presence line (12.5M of them,
//! measured: 3,300 logins in 300 s on 2 cores); ordinary traffic (a broadcast every
//! 10 ms) never reaches the threshold and is written at once.

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::{Mutex, MutexGuard};
use std::io::{BufWriter, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lines a client may fall behind by before it is disconnected.
pub const OUTBOX_CAPACITY: usize = 8192;
/// More lines than this to one connection within [`FLOOD_WINDOW`] is a flood...
pub const FLOOD_LINES: u32 = 20;
pub const FLOOD_WINDOW: Duration = Duration::from_millis(100);
/// ...and during a flood the writer waits this long after waking, to batch.
pub const LINGER: Duration = Duration::from_millis(50);

/// One item for the writer thread.
pub enum Out {
    /// An encoded line (shared, so a broadcast encodes once).
    Line(Arc<[u8]>),
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
}

impl Conn {
    /// Creates the outbox; the receiver goes to [`run_writer`].
    pub fn new(sock: Arc<TcpStream>) -> (Conn, Receiver<Out>) {
        // Unbounded with a length check rather than `bounded(OUTBOX_CAPACITY)`: a bounded
        // channel allocates and touches all its slots up front (256 KiB per connection,
        // 1.25 GB for 5,000 idle clients); this one grows in small blocks as lines queue.
        let (tx, rx) = crossbeam_channel::unbounded();
        let gate = Arc::new(Mutex::new(()));
        (
            Conn {
                outbox: tx,
                sock,
                gate,
            },
            rx,
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
        match self.outbox.try_send(out) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                log::warn!("outbox full: disconnecting {:?}", self.sock.peer_addr());
                self.kill();
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
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
        self.outbox.send(out).is_ok()
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
pub fn run_writer(sock: Arc<TcpStream>, rx: Receiver<Out>, gate: Arc<Mutex<()>>) {
    let mut w = BufWriter::with_capacity(64 * 1024, &*sock);
    let mut rate = FloodMeter::new(Instant::now());
    'outer: while let Ok(first) = rx.recv() {
        if rate.flooded(Instant::now()) {
            std::thread::sleep(LINGER);
        }
        let _held = gate.lock();
        let mut next = Some(first);
        while let Some(item) = next {
            rate.count();
            let res = match item {
                Out::Line(line) => w.write_all(&line),
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
    }
    let _ = w.flush();
    let _ = sock.shutdown(Shutdown::Both);
}

/// Lines written in the current and the previous [`FLOOD_WINDOW`].
struct FloodMeter {
    window_start: Instant,
    current: u32,
    previous: u32,
}

impl FloodMeter {
    fn new(now: Instant) -> FloodMeter {
        FloodMeter {
            window_start: now,
            current: 0,
            previous: 0,
        }
    }

    fn count(&mut self) {
        self.current = self.current.saturating_add(1);
    }

    /// Rolls the window forward to `now`; true if the last full window, or the current
    /// one so far, saw more than [`FLOOD_LINES`].
    fn flooded(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= FLOOD_WINDOW {
            self.previous = if elapsed >= FLOOD_WINDOW * 2 {
                0
            } else {
                self.current
            };
            self.current = 0;
            self.window_start = now;
        }
        self.previous > FLOOD_LINES || self.current > FLOOD_LINES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_meter_trips_on_bursts_only() {
        let t0 = Instant::now();
        let mut m = FloodMeter::new(t0);
        // A line every 10 ms (100/s) never floods.
        for i in 0..100u32 {
            assert!(!m.flooded(t0 + Duration::from_millis(10 * i as u64)));
            m.count();
        }
        // Thirty lines at once do, for this window and the next.
        let t1 = t0 + Duration::from_secs(5);
        assert!(!m.flooded(t1));
        for _ in 0..30 {
            m.count();
        }
        assert!(m.flooded(t1 + Duration::from_millis(1)));
        assert!(m.flooded(t1 + Duration::from_millis(150)));
        // A quiet spell clears it.
        assert!(!m.flooded(t1 + Duration::from_secs(1)));
    }
}
