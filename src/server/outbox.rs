//! Each connection's outbox and the writer thread that drains it.
//!
//! Senders never touch a socket: they push an encoded line into a bounded queue and move
//! on. The writer thread owns the sending side of the socket; it drains whatever is queued
//! into a `BufWriter` and flushes only when the queue is empty, so a burst to a thousand
//! clients costs one `write` per client per burst rather than per line (measured in
//! DESIGN.md: ~1.4M lines/s batched against ~0.33M unbatched). A queue that fills up means
//! the client stopped reading: the connection is shut down rather than letting it hold
//! memory or delay anyone else.

use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::io::{BufWriter, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;

/// Lines a client may fall behind by before it is disconnected.
pub const OUTBOX_CAPACITY: usize = 8192;

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
}

impl Conn {
    /// Creates the outbox; the receiver goes to [`run_writer`].
    pub fn new(sock: Arc<TcpStream>) -> (Conn, Receiver<Out>) {
        let (tx, rx) = crossbeam_channel::bounded(OUTBOX_CAPACITY);
        (Conn { outbox: tx, sock }, rx)
    }

    /// Queues without blocking. A full queue disconnects the client; returns false then.
    pub fn send(&self, out: Out) -> bool {
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
pub fn run_writer(sock: Arc<TcpStream>, rx: Receiver<Out>) {
    let mut w = BufWriter::with_capacity(64 * 1024, &*sock);
    'outer: while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(item) = next {
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
