//! The write path: one writer at a time takes a batch off the queue's front, sends it
//! without blocking and with no lock held, then commits what the socket took.

use super::super::secure::TlsLink;
use super::{flusher, By, Conn, Queue, Status, ITEM_COST, MAX_IOV, MAX_ROUNDS, MAX_SEND};
use crate::tls::Sent;
use parking_lot::MutexGuard;
use socket2::SockRef;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Instant;

impl Queue {
    /// Forgets the first `n` bytes of the queue, which were sent.
    pub(super) fn commit(&mut self, mut n: usize) {
        while n > 0 {
            let front = self.items.front().map_or(0, |l| l.len()) - self.sent;
            if n < front {
                self.sent += n;
                return;
            }
            n -= front;
            self.sent = 0;
            if let Some(line) = self.items.pop_front() {
                self.bytes -= line.len() + ITEM_COST;
            }
        }
    }

    /// The next buffers to send, and their length after the part already sent.
    pub(super) fn batch(&self) -> (Vec<Arc<[u8]>>, usize) {
        let mut total = 0;
        let mut batch = Vec::new();
        for line in self.items.iter().take(MAX_IOV) {
            if total >= MAX_SEND {
                break;
            }
            total += line.len();
            batch.push(line.clone());
        }
        (batch, total - self.sent)
    }
}

/// TLS (see `server::secure`): the connection's session, used by the write path.
impl Conn {
    /// Makes this a TLS connection: from now on what is queued is written encrypted.
    pub fn use_tls(&self, link: Arc<TlsLink>) {
        let _ = self.0.tls.set(link);
    }

    /// The TLS session, on a TLS connection.
    pub fn tls(&self) -> Option<&TlsLink> {
        self.0.tls.get().map(|l| &**l)
    }

    /// TLS records the reader side made (handshake, alerts) wait for the socket: the
    /// flusher sends them.
    pub fn flush_tls(&self) {
        self.hand();
    }
}

impl Conn {
    /// Writes what is queued with non-blocking sends until it is all written, the socket
    /// is full, or [`MAX_ROUNDS`] sends (for a sender). See [`Status`].
    pub(super) fn write(&self, by: By) -> Status {
        let mut q = self.0.q.lock();
        match by {
            By::Handed => q.handed = false,
            By::Writable => q.parked = false,
            By::Sender | By::Feed => {}
        }
        if q.dead {
            return Status::Done;
        }
        if q.writing || q.held > 0 {
            return Status::Elsewhere;
        }
        if q.parked {
            return Status::Parked;
        }
        q.writing = true;
        let mut rounds = 0;
        let status = loop {
            // The notices due before the next line are in the queue already (see
            // `Conn::enqueue`); those since go after it, a send's worth at a time.
            let room = MAX_IOV.saturating_sub(q.items.len());
            if !q.streaming && room > 0 && !self.pull(&mut q, room) {
                break Status::Done;
            }
            if q.items.is_empty() && !self.tls().is_some_and(|t| t.pending()) {
                break Status::Done;
            }
            if by == By::Sender && rounds == MAX_ROUNDS {
                break Status::More;
            }
            rounds += 1;
            let (next, ended) = self.send_batch(q);
            q = next;
            if let Some(status) = ended {
                break status;
            }
        };
        q.writing = false;
        self.settle(q, status, by)
    }

    /// Sends the queue's front batch with the queue unlocked, then commits what the
    /// socket took; `Some` ends the write (the socket is full, or the connection died).
    fn send_batch<'a>(
        &'a self,
        mut q: MutexGuard<'a, Queue>,
    ) -> (MutexGuard<'a, Queue>, Option<Status>) {
        let (batch, len) = q.batch();
        let skip = q.sent;
        drop(q);
        let res = match self.tls() {
            Some(tls) => tls.send_nowait(&batch, skip),
            None => send_now(&self.0.sock, &batch, skip, len),
        };
        drop(batch);
        q = self.0.q.lock();
        if q.dead {
            return (q, Some(Status::Done));
        }
        let ended = match res {
            Ok(sent) => {
                if sent.progress {
                    q.stalled_since = None;
                }
                q.commit(sent.taken);
                (!sent.done).then_some(Status::Parked)
            }
            Err(e) => {
                log::debug!("write to {:?}: {e}", self.0.sock.peer_addr());
                self.die(&mut q);
                Some(Status::Done)
            }
        };
        (q, ended)
    }

    /// After a write: closes a drained closing connection, parks a full one, wakes
    /// waiting senders.
    fn settle(&self, mut q: MutexGuard<'_, Queue>, status: Status, by: By) -> Status {
        if status == Status::Done && q.close && !q.streaming && !q.dead {
            if let Some(tls) = self.tls() {
                tls.close();
            }
            let _ = self.0.sock.shutdown(Shutdown::Both);
            q.dead = true;
        }
        if status == Status::Done && q.items.capacity() > 0 {
            q.items = VecDeque::new(); // an idle client keeps no slots
        }
        if q.waiters > 0 {
            self.0.room.notify_all();
        }
        if status != Status::Parked {
            return status;
        }
        q.parked = true;
        q.stalled_since.get_or_insert_with(Instant::now);
        // The flusher registers a connection a sender parked; one it parked itself it
        // registers on its own.
        if by == By::Sender && !std::mem::replace(&mut q.handed, true) {
            drop(q);
            flusher::get().hand(self.clone());
        }
        Status::Parked
    }
}

/// Sends as much of `batch` (less the first `skip` bytes, `len` left) as the socket takes
/// without blocking, in one vectored send (retried only if interrupted).
fn send_now(sock: &TcpStream, batch: &[Arc<[u8]>], skip: usize, len: usize) -> io::Result<Sent> {
    let n = send_plain(sock, batch, skip)?;
    Ok(Sent {
        taken: n,
        done: n == len,
        progress: n > 0,
    })
}

fn send_plain(sock: &TcpStream, batch: &[Arc<[u8]>], skip: usize) -> io::Result<usize> {
    let mut slices: Vec<IoSlice<'_>> = batch.iter().map(|l| IoSlice::new(l)).collect();
    if let Some(first) = batch.first() {
        slices[0] = IoSlice::new(&first[skip..]);
    }
    let sock = SockRef::from(sock);
    loop {
        match sock.send_vectored_with_flags(&slices, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
