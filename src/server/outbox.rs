//! Each connection's outbox and the writer thread that drains it.
//!
//! Senders never block on a socket: they push an encoded line into a queue capped at
//! [`OUTBOX_CAPACITY`] and move on. The writer thread drains whatever is queued into a
//! `BufWriter` and flushes only when the queue is empty, so a burst to a thousand clients
//! costs one `write` per client per burst rather than per line (measured in DESIGN.md:
//! ~1.4M lines/s batched against ~0.33M unbatched). A queue that fills up means the client
//! stopped reading: the connection is shut down rather than letting it hold memory or
//! delay anyone else.
//!
//! # Write-through
//!
//! Waking a writer thread for every line is what limits fan-out on these 2-core virtual
//! machines: a futex wake-up and two context switches per delivery cost more than the
//! delivery (perf, 1,000 clients at 100 broadcasts/s: 86% of server samples in writer
//! threads, mostly switching; p99 189–911 ms). So a session thread handling a request
//! opens a [`WriteThrough`] scope: lines it queues inside the scope do not wake anyone,
//! and when the scope ends (after every state lock is released) the session writes them
//! itself with one non-blocking `send` per connection, as an event loop would. Whatever
//! does not fit in the socket buffer, and anything that is not a plain line, is handed to
//! the writer thread, which remains the only one that ever blocks on the socket.
//!
//! Every write to a socket happens under the connection's gate mutex, and items leave the
//! queue only under it, so lines reach the client in queue order whoever writes them.

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex, MutexGuard};
use socket2::SockRef;
use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{self, BufWriter, Write};
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
/// other line does, so chat is never held back.
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

/// The server's handle on one connection: its outbox and its socket. Cheap to clone.
#[derive(Clone)]
pub struct Conn(Arc<Shared>);

/// What every handle on a connection shares with its writer thread.
struct Shared {
    tx: Sender<Out>,
    /// The queue's far end too: a [`WriteThrough`] drains it (under the gate).
    rx: Receiver<Out>,
    sock: Arc<TcpStream>,
    /// Held by whoever writes to the socket, and by a session that must keep queued lines
    /// back until its bookkeeping is done (login: userlog.txt is written before the client
    /// can read its welcome). Guards what a write-through could not finish.
    gate: Arc<Mutex<Backlog>>,
    bell: Arc<Bell>,
}

impl Drop for Shared {
    /// The last handle is gone: nothing more will be queued.
    fn drop(&mut self) {
        self.bell.close();
    }
}

/// Work a write-through left for the writer thread, which does it before anything queued.
#[derive(Default)]
pub struct Backlog {
    /// Bytes the socket would not take without blocking.
    bytes: Vec<u8>,
    /// An item taken off the queue that only the writer may write (a stream, a close).
    item: Option<Out>,
}

/// How a writer thread sleeps until there is work, and how senders wake it.
///
/// crossbeam's blocking `recv` would pop the first item before the writer holds the gate,
/// letting a write-through overtake it, and it spins through `sched_yield` before it
/// parks. So the writer only `try_recv`s under the gate, and parks on this condition
/// variable; a sender takes the bell's mutex after queueing and signals only a writer
/// that is asleep.
struct Bell {
    state: Mutex<Ring>,
    ringing: Condvar,
}

#[derive(Default)]
struct Ring {
    sleep: Sleep,
    /// Something other than a notice was signalled since the writer last looked: it makes
    /// one more pass even if the queue is empty (a write-through may have left a backlog).
    rung: bool,
    /// Every handle is gone: exit once the queue is drained.
    closed: bool,
}

#[derive(Default, PartialEq)]
enum Sleep {
    /// Writing, or about to look at the queue again.
    #[default]
    Awake,
    /// Waiting for any item.
    Asleep,
    /// In a notice linger: waiting for anything but a notice.
    Lingering,
}

impl Bell {
    /// Called after queueing an item; `urgent` is false for a presence notice.
    fn ring(&self, urgent: bool) {
        let mut ring = self.state.lock();
        ring.rung |= urgent;
        let wake = match ring.sleep {
            Sleep::Asleep => true,
            Sleep::Lingering => urgent,
            Sleep::Awake => false,
        };
        if wake {
            ring.sleep = Sleep::Awake;
            // Signal after unlocking: a writer woken while the mutex is still held would
            // spin and yield for it.
            drop(ring);
            self.ringing.notify_one();
        }
    }

    fn close(&self) {
        self.state.lock().closed = true;
        self.ringing.notify_one();
    }

    /// Returns once there is something to do (true), or nothing is queued and every handle
    /// is gone (false). After a batch of nothing but notices (`linger`) it first waits up
    /// to [`NOTICE_LINGER`] for anything but a notice. The checks happen under the bell's
    /// mutex, which a sender takes after queueing: an item queued after a check finds the
    /// writer marked asleep and signals it, so no wake-up is lost.
    fn wait(&self, rx: &Receiver<Out>, linger: bool) -> bool {
        let mut ring = self.state.lock();
        if linger && !ring.rung {
            ring.sleep = Sleep::Lingering;
            let until = Instant::now() + NOTICE_LINGER;
            while ring.sleep == Sleep::Lingering && !ring.closed {
                if self.ringing.wait_until(&mut ring, until).timed_out() {
                    break;
                }
            }
        }
        loop {
            if ring.rung || !rx.is_empty() {
                ring.rung = false;
                ring.sleep = Sleep::Awake;
                return true;
            }
            if ring.closed {
                return false;
            }
            ring.sleep = Sleep::Asleep;
            self.ringing.wait(&mut ring);
        }
    }
}

/// The writer thread's end of a connection.
pub struct Inbox {
    rx: Receiver<Out>,
    sock: Arc<TcpStream>,
    gate: Arc<Mutex<Backlog>>,
    bell: Arc<Bell>,
}

thread_local! {
    /// Connections that lines were queued for inside this thread's [`WriteThrough`] scope.
    static DEFERRED: RefCell<Option<Vec<Conn>>> = const { RefCell::new(None) };
}

/// A scope in which lines this thread queues are written by this thread when the scope
/// ends, instead of waking each connection's writer (see the module docs). Open it only
/// where nothing in the scope waits for a client to read what was queued.
pub struct WriteThrough(());

impl WriteThrough {
    pub fn begin() -> WriteThrough {
        DEFERRED.with_borrow_mut(|d| {
            d.get_or_insert_with(Vec::new);
        });
        WriteThrough(())
    }
}

impl Drop for WriteThrough {
    /// Runs on unwinding too, so a panicking handler strands nobody's lines.
    fn drop(&mut self) {
        let conns = DEFERRED.with_borrow_mut(Option::take).unwrap_or_default();
        // A connection sent several lines in the scope is listed once per line.
        let mut done = HashSet::new();
        for conn in conns {
            if done.insert(Arc::as_ptr(&conn.0)) {
                conn.write_through();
            }
        }
    }
}

impl Conn {
    /// Creates the outbox; the [`Inbox`] goes to [`run_writer`].
    pub fn new(sock: Arc<TcpStream>) -> (Conn, Inbox) {
        // Unbounded with a length check rather than `bounded(OUTBOX_CAPACITY)`: a bounded
        // channel allocates and touches all its slots up front (256 KiB per connection,
        // 1.25 GB for 5,000 idle clients); this one grows in small blocks as lines queue.
        let (tx, rx) = crossbeam_channel::unbounded();
        let gate = Arc::new(Mutex::new(Backlog::default()));
        let bell = Arc::new(Bell {
            state: Mutex::new(Ring::default()),
            ringing: Condvar::new(),
        });
        let inbox = Inbox {
            rx: rx.clone(),
            sock: sock.clone(),
            gate: gate.clone(),
            bell: bell.clone(),
        };
        let shared = Shared {
            tx,
            rx,
            sock,
            gate,
            bell,
        };
        (Conn(Arc::new(shared)), inbox)
    }

    /// Keeps anything from being written until the guard is dropped; lines queued
    /// meanwhile keep their order.
    pub fn hold(&self) -> MutexGuard<'_, Backlog> {
        self.0.gate.lock()
    }

    /// Queues without blocking. A full queue disconnects the client; returns false then.
    pub fn send(&self, out: Out) -> bool {
        if self.0.tx.len() >= OUTBOX_CAPACITY {
            log::warn!("outbox full: disconnecting {:?}", self.0.sock.peer_addr());
            self.kill();
            return false;
        }
        self.push(out, true)
    }

    /// Queues, waiting for room: only for the connection's own session thread streaming a
    /// download, where waiting on its own slow client delays nobody else.
    pub fn send_blocking(&self, out: Out) -> bool {
        // The writer drains or dies within its socket's write timeout.
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.0.tx.len() >= OUTBOX_CAPACITY {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // Never deferred: it waits on the writer thread, which must be woken to drain.
        self.push(out, false)
    }

    /// Queues `out`; a line queued inside a [`WriteThrough`] scope may be `deferred` to
    /// the scope's end instead of waking the writer.
    fn push(&self, out: Out, defer: bool) -> bool {
        let line = defer && matches!(out, Out::Line(_));
        let urgent = !matches!(out, Out::Notice(_));
        // Unbounded, and `Shared` holds a receiver too: this cannot fail in practice.
        if self.0.tx.send(out).is_err() {
            return false;
        }
        let deferred = line
            && DEFERRED
                .with_borrow_mut(|d| d.as_mut().map(|conns| conns.push(self.clone())))
                .is_some();
        if !deferred {
            self.0.bell.ring(urgent);
        }
        true
    }

    /// Writes what is queued with one non-blocking `send`, unless the writer thread is
    /// busy with this connection or has a backlog; what cannot be written now is left to
    /// the writer thread, which is woken for it.
    fn write_through(&self) {
        let Some(mut backlog) = self.0.gate.try_lock() else {
            return self.0.bell.ring(true);
        };
        if !backlog.bytes.is_empty() || backlog.item.is_some() {
            drop(backlog);
            return self.0.bell.ring(true);
        }
        let mut bytes = Vec::new();
        while let Ok(item) = self.0.rx.try_recv() {
            match item {
                Out::Line(line) | Out::Notice(line) => bytes.extend_from_slice(&line),
                other => {
                    backlog.item = Some(other);
                    break;
                }
            }
        }
        let sent = match send_now(&self.0.sock, &bytes) {
            Ok(n) => n,
            Err(e) => {
                log::debug!("write-through to {:?}: {e}", self.0.sock.peer_addr());
                drop(backlog);
                return self.kill();
            }
        };
        backlog.bytes.extend_from_slice(&bytes[sent..]);
        let more = !backlog.bytes.is_empty() || backlog.item.is_some() || !self.0.rx.is_empty();
        drop(backlog);
        if more {
            self.0.bell.ring(true);
        }
    }

    /// Waits until everything queued so far has been written to the socket (the offline
    /// backlog is recorded as delivered only then). False if the connection closed or
    /// `within` passed first.
    pub fn drained(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let idle = self.0.rx.is_empty()
                && self
                    .0
                    .gate
                    .try_lock()
                    .is_some_and(|b| b.bytes.is_empty() && b.item.is_none());
            if idle {
                return !closed(&self.0.sock);
            }
            if Instant::now() > deadline || closed(&self.0.sock) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Encodes and queues one protocol message.
    pub fn send_msg<T: serde::Serialize>(&self, msg: &T) -> bool {
        self.send(Out::Line(crate::protocol::encode(msg).into()))
    }

    /// Ends the connection at once: both the reader and the writer see it closed.
    pub fn kill(&self) {
        let _ = self.0.sock.shutdown(Shutdown::Both);
    }
}

/// Has the connection been shut down (by the writer after a failed write, or a kill)?
fn closed(sock: &TcpStream) -> bool {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
    let flags = libc::MSG_PEEK | libc::MSG_DONTWAIT;
    matches!(SockRef::from(sock).recv_with_flags(&mut byte, flags), Ok(0))
}

/// Sends as much of `bytes` as the socket takes without blocking.
fn send_now(sock: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let sock = SockRef::from(sock);
    let mut sent = 0;
    while sent < bytes.len() {
        match sock.send_with_flags(&bytes[sent..], libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

/// The writer thread's body: wait, then under the gate write the backlog and drain the
/// queue into a `BufWriter`, then flush; exit on `Close`, on a write error, or when every
/// handle is gone. Always shuts the socket down on the way out so the reader thread wakes.
pub fn run_writer(inbox: Inbox) {
    let Inbox {
        rx,
        sock,
        gate,
        bell,
    } = inbox;
    let mut w = BufWriter::with_capacity(64 * 1024, &*sock);
    let mut linger = false;
    'outer: while bell.wait(&rx, linger) {
        let mut backlog = gate.lock();
        // Taken rather than cleared: a backlog left by a stalled client may be large.
        if w.write_all(&std::mem::take(&mut backlog.bytes)).is_err() {
            break;
        }
        let (mut notices, mut others) = (0, 0);
        let items = backlog
            .item
            .take()
            .into_iter()
            .chain(std::iter::from_fn(|| rx.try_recv().ok()));
        for item in items {
            let res = match item {
                Out::Notice(line) => {
                    notices += 1;
                    w.write_all(&line)
                }
                Out::Line(line) => {
                    others += 1;
                    w.write_all(&line)
                }
                Out::Stream(chunks) => {
                    others += 1;
                    chunks.iter().try_for_each(|c| w.write_all(&c))
                }
                Out::Close => break 'outer,
            };
            if res.is_err() {
                break 'outer;
            }
        }
        if w.flush().is_err() {
            break;
        }
        linger = notices > 0 && others == 0;
    }
    let _ = w.flush();
    let _ = sock.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpListener;
    use std::thread;

    /// A connection whose far end (returned) is a plain socket, with its writer running.
    /// Both socket buffers are small, so a client that does not read soon leaves
    /// write-throughs with a backlog.
    fn pair() -> (Conn, TcpStream, thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        client.set_recv_buffer_size(4096).unwrap();
        client.connect(&addr.into()).unwrap();
        let client = TcpStream::from(client);
        let (server, _) = listener.accept().unwrap();
        SockRef::from(&server).set_send_buffer_size(4096).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let (conn, inbox) = Conn::new(Arc::new(server));
        (conn, client, thread::spawn(move || run_writer(inbox)))
    }

    fn line(producer: usize, n: usize) -> Out {
        Out::Line(
            format!("{producer} {n} {}\n", "x".repeat(600))
                .into_bytes()
                .into(),
        )
    }

    /// Four threads queue 1,500 lines each while the client reads slowly, mixing
    /// write-through scopes of several sizes with plain sends that wake the writer, so
    /// that lines go out directly, through backlogs and through the writer thread in turn.
    /// The client gets every line, each thread's in order, then the end of the stream
    /// when the last handle goes.
    #[test]
    fn lines_arrive_in_order_whoever_writes_them() {
        const PER: usize = 1500;
        let (conn, client, writer) = pair();
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let conn = conn.clone();
                thread::spawn(move || {
                    let mut n = 0;
                    while n < PER {
                        let scope = (p % 2 == 0 || n % 300 < 150).then(WriteThrough::begin);
                        for _ in 0..(1 + n % 7).min(PER - n) {
                            assert!(conn.send(line(p, n)));
                            n += 1;
                        }
                        drop(scope);
                        if n % 100 < 7 {
                            thread::sleep(Duration::from_millis(1));
                        }
                    }
                })
            })
            .collect();
        drop(conn);
        let mut next = [0; 4];
        for (i, l) in BufReader::new(&client).lines().enumerate() {
            let l = l.expect("every line before the end of the stream");
            let mut words = l.split(' ');
            let p: usize = words.next().unwrap().parse().unwrap();
            let n: usize = words.next().unwrap().parse().unwrap();
            assert_eq!(n, next[p], "producer {p} out of order");
            next[p] += 1;
            if i % 40 == 0 {
                thread::sleep(Duration::from_millis(1));
            }
        }
        assert_eq!(next, [PER; 4]);
        for p in producers {
            p.join().unwrap();
        }
        writer.join().unwrap();
    }

    /// A write-through never writes while a session holds the gate: the line waits for
    /// the guard, then arrives.
    #[test]
    fn a_held_gate_keeps_write_through_back() {
        let (conn, client, writer) = pair();
        let held = conn.hold();
        {
            let _scope = WriteThrough::begin();
            conn.send(line(0, 0));
        }
        client.set_nonblocking(true).unwrap();
        thread::sleep(Duration::from_millis(100));
        let mut byte = [0u8; 1];
        let early = (&client).read(&mut byte);
        assert!(
            matches!(&early, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
            "read {early:?} while the gate was held"
        );
        drop(held);
        client.set_nonblocking(false).unwrap();
        let mut first = String::new();
        BufReader::new(&client).read_line(&mut first).unwrap();
        assert!(first.starts_with("0 0 "));
        drop(conn);
        writer.join().unwrap();
    }
}
