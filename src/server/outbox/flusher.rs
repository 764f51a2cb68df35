//! The one shared flusher thread: writes what senders handed it (lines queued outside a
//! write-through scope, presence notices at their deadline) and finishes sockets that
//! were full once epoll says they are writable. It is the only thread that waits on a
//! socket, and it never blocks on one: every send is non-blocking.

use super::{By, Conn, Feed, Status, WRITE_TIMEOUT};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The waker's token; connections use their [`Conn::key`].
const WAKE: Token = Token(usize::MAX);
/// Lingering notices due within this much of now are written together.
const SLACK: Duration = Duration::from_millis(10);
/// How often parked connections are checked against [`WRITE_TIMEOUT`].
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The senders' side of the flusher.
pub(super) struct Flusher {
    inbox: Mutex<Inbox>,
    waker: Waker,
}

#[derive(Default)]
struct Inbox {
    /// Connections to write now.
    handed: Vec<Conn>,
    /// Presence feeds whose subscribers to write at a deadline.
    lingering: Vec<(Instant, Arc<Feed>)>,
    /// The earliest deadline in `lingering` the flusher knows of.
    next_due: Option<Instant>,
}

static FLUSHER: OnceLock<Arc<Flusher>> = OnceLock::new();
static STARTING: Mutex<()> = Mutex::new(());

/// Starts the process's flusher thread if it is not running yet.
pub fn start() -> io::Result<()> {
    let _once = STARTING.lock();
    if FLUSHER.get().is_some() {
        return Ok(());
    }
    let poll = Poll::new()?;
    let flusher = Arc::new(Flusher {
        inbox: Mutex::new(Inbox::default()),
        waker: Waker::new(poll.registry(), WAKE)?,
    });
    let shared = flusher.clone();
    std::thread::Builder::new()
        .name("flusher".into())
        .stack_size(crate::server::THREAD_STACK)
        .spawn(move || Loop::new(poll, shared).run())?;
    let _ = FLUSHER.set(flusher);
    Ok(())
}

/// The flusher, started on first use (the server starts it before accepting, so only a
/// unit test can get here first).
pub(super) fn get() -> &'static Flusher {
    if FLUSHER.get().is_none() {
        start().expect("cannot start the outbox flusher thread");
    }
    FLUSHER.get().expect("started above")
}

impl Flusher {
    /// Write `conn` soon.
    pub(super) fn hand(&self, conn: Conn) {
        let mut inbox = self.inbox.lock();
        let was_empty = inbox.handed.is_empty();
        inbox.handed.push(conn);
        drop(inbox);
        if was_empty {
            self.wake();
        }
    }

    /// Write the notices of `feed`'s subscribers at `due`.
    pub(super) fn linger(&self, feed: Arc<Feed>, due: Instant) {
        let mut inbox = self.inbox.lock();
        inbox.lingering.push((due, feed));
        let sooner = inbox.next_due.is_none_or(|d| due + SLACK < d);
        if sooner {
            inbox.next_due = Some(due);
        }
        drop(inbox);
        if sooner {
            self.wake();
        }
    }

    fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            log::error!("cannot wake the flusher: {e}");
        }
    }
}

/// The flusher thread's own state.
struct Loop {
    poll: Poll,
    shared: Arc<Flusher>,
    /// Connections registered with epoll, waiting to be writable.
    parked: HashMap<usize, Conn>,
    next_check: Instant,
}

impl Loop {
    fn new(poll: Poll, shared: Arc<Flusher>) -> Loop {
        Loop {
            poll,
            shared,
            parked: HashMap::new(),
            next_check: Instant::now() + CHECK_EVERY,
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("flusher poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            for ev in events.iter().filter(|ev| ev.token() != WAKE) {
                if let Some(conn) = self.parked.get(&ev.token().0).cloned() {
                    self.write(conn, By::Writable);
                }
            }
            let now = Instant::now();
            let (handed, due) = self.take(now);
            for conn in handed {
                self.write(conn, By::Handed);
            }
            for feed in due {
                for conn in feed.pass(now) {
                    self.write(conn, By::Feed);
                }
                feed.passed();
            }
            if now >= self.next_check {
                self.expire(now);
            }
        }
    }

    /// How long to sleep: until the next notice deadline or stall check, or for ever.
    fn timeout(&self, now: Instant) -> Option<Duration> {
        let due = self.shared.inbox.lock().next_due;
        let check = (!self.parked.is_empty()).then_some(self.next_check);
        let until = [due, check].into_iter().flatten().min()?;
        Some(until.saturating_duration_since(now))
    }

    /// Takes the connections handed over and the feeds whose notices are due.
    fn take(&self, now: Instant) -> (Vec<Conn>, Vec<Arc<Feed>>) {
        let mut inbox = self.shared.inbox.lock();
        let handed = std::mem::take(&mut inbox.handed);
        let mut due = Vec::new();
        if inbox.next_due.is_some_and(|d| d <= now) {
            let mut next = None::<Instant>;
            inbox.lingering.retain(|(at, feed)| {
                if *at <= now + SLACK {
                    due.push(feed.clone());
                    return false;
                }
                next = Some(next.map_or(*at, |n| n.min(*at)));
                true
            });
            inbox.next_due = next;
        }
        (handed, due)
    }

    /// Writes `conn`; registers it if its socket is full, forgets it otherwise.
    fn write(&mut self, conn: Conn, by: By) {
        let status = conn.write(by);
        let key = conn.key();
        let fd = conn.raw_fd();
        match status {
            Status::Parked => {
                let registry = self.poll.registry();
                let mut source = SourceFd(&fd);
                let res = match self.parked.contains_key(&key) {
                    true => registry.reregister(&mut source, Token(key), Interest::WRITABLE),
                    false => registry.register(&mut source, Token(key), Interest::WRITABLE),
                };
                match res {
                    Ok(()) => {
                        self.parked.insert(key, conn);
                    }
                    Err(e) => {
                        log::error!("cannot watch a socket for writability: {e}");
                        self.forget(key);
                        conn.kill();
                    }
                }
            }
            Status::More => self.shared.hand(conn),
            // A pass over a feed meets connections in any state: one that is held or
            // being written stays as it is (parked ones stay watched).
            Status::Elsewhere if by == By::Feed => {}
            Status::Done | Status::Elsewhere => self.forget(key),
        }
    }

    fn forget(&mut self, key: usize) {
        if let Some(conn) = self.parked.remove(&key) {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&conn.raw_fd()));
        }
    }

    /// Disconnects parked clients that took nothing for [`WRITE_TIMEOUT`].
    fn expire(&mut self, now: Instant) {
        self.next_check = now + CHECK_EVERY;
        let stalled: Vec<usize> = self
            .parked
            .iter()
            .filter(|(_, c)| c.stalled_for(now) >= WRITE_TIMEOUT)
            .map(|(k, _)| *k)
            .collect();
        for key in stalled {
            if let Some(conn) = self.parked.get(&key).cloned() {
                log::info!("a client took nothing for {WRITE_TIMEOUT:?}: disconnecting");
                self.forget(key);
                conn.kill();
            }
        }
    }
}
