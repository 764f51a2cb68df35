//! Crowds of load clients: `n` connections driven by a few `driver` workers, logged in
//! through a window, then reading until the crowd stops, timing every line that carries
//! the crowd's marker (`MARKER<micros since the bench started>`). The controller sends
//! through a crowd's [`Link`]s.

use crate::driver::{Event, Seen, Shared, Worker};
use crate::login::Proto;
use crate::procs::Kind;
use chinwag::protocol::{self, Command, Request};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::driver::now_us;

/// How a crowd of clients behaves.
#[derive(Clone)]
pub struct Plan {
    pub kind: Kind,
    /// Where clients connect, in turn (one address, or a cluster's nodes).
    pub addrs: Vec<SocketAddr>,
    /// Lines carrying this marker are timed and counted; empty = time nothing.
    pub marker: &'static str,
    /// IRC: join the bench channel before counting as logged in.
    pub join: bool,
    /// Logins in flight at most (0 = all at once).
    pub window: usize,
    /// Worker threads driving the crowd.
    pub workers: usize,
    /// `chinwag-tls`: connect with TLS under this configuration.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// A logged-in client's socket, written by the controller's threads.
pub struct Link {
    pub proto: Proto,
    pub sock: Arc<crate::tls::Sock>,
    pub index: usize,
    next_id: u64,
}

impl Link {
    /// Sends a chinwag request (ids continue after the login's).
    pub fn request(&mut self, cmd: Command) -> io::Result<()> {
        self.next_id += 1;
        let line = protocol::encode(&Request {
            id: self.next_id,
            cmd,
        });
        self.sock.send_all(&line)
    }

    /// Sends one raw IRC line (CRLF added).
    pub fn irc(&self, line: &str) -> io::Result<()> {
        self.sock.send_all(format!("{line}\r\n").as_bytes())
    }
}

/// A group of connected clients and their workers.
pub struct Crowd {
    pub links: Vec<Link>,
    pub failures: Vec<String>,
    /// Logins that had to reconnect after the server reset or closed them.
    pub retries: u64,
    /// When the first client started connecting; how long each took to be welcomed
    /// (connect to welcome, µs) and when (µs).
    pub go_us: u64,
    pub login_us: Vec<u64>,
    pub welcomed_us: Vec<u64>,
    workers: Vec<Worker>,
    shared: Arc<Shared>,
}

impl Crowd {
    /// Starts `n` clients numbered from `first` through the plan's window and waits (at
    /// most `timeout`) until each is logged in or failed.
    pub fn start(plan: &Plan, first: usize, n: usize, timeout: Duration) -> Result<Crowd, String> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            proto: plan.kind.proto(),
            addrs: plan.addrs.clone(),
            marker: plan.marker,
            join: plan.join,
            first,
            n,
            window: plan.window,
            next: AtomicUsize::new(0),
            received: AtomicU64::new(0),
            events: tx,
            tls: plan.tls.clone(),
        });
        let mut workers = Vec::new();
        for id in 0..plan.workers.clamp(1, n.max(1)) {
            let w = Worker::spawn(shared.clone(), id).map_err(|e| format!("worker: {e}"))?;
            workers.push(w);
        }
        let go_us = now_us();
        let opening = if plan.window == 0 {
            n
        } else {
            plan.window.min(n)
        };
        for _ in 0..opening {
            let k = shared.next.fetch_add(1, Ordering::Relaxed);
            workers[k % workers.len()].start(first + k);
        }
        let mut crowd = Crowd {
            links: Vec::with_capacity(n),
            failures: Vec::new(),
            retries: 0,
            go_us,
            login_us: Vec::with_capacity(n),
            welcomed_us: Vec::with_capacity(n),
            workers,
            shared,
        };
        crowd.collect(&rx, n, timeout);
        Ok(crowd)
    }

    fn collect(&mut self, rx: &crossbeam_channel::Receiver<Event>, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let proto = self.shared.proto;
        while self.links.len() + self.failures.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Event::Welcomed {
                    index,
                    sock,
                    started_us,
                    welcomed_us,
                    reconnects,
                }) => {
                    self.retries += u64::from(reconnects);
                    self.login_us.push(welcomed_us.saturating_sub(started_us));
                    self.welcomed_us.push(welcomed_us);
                    self.links.push(Link {
                        proto,
                        sock,
                        index,
                        next_id: 3,
                    });
                }
                Ok(Event::Failed { index, error }) => {
                    self.failures.push(format!("client {index}: {error}"))
                }
                Err(_) => {
                    let missing = n - self.links.len() - self.failures.len();
                    let why = format!("not logged in within {timeout:?}");
                    self.failures.extend(std::iter::repeat_n(why, missing));
                    break;
                }
            }
        }
        self.links.sort_by_key(|l| l.index);
    }

    /// Logged-in clients.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// Timed lines the crowd has received so far.
    pub fn received(&self) -> u64 {
        self.shared.received.load(Ordering::Relaxed)
    }

    /// Stops the workers, closes every socket and merges what the workers timed.
    pub fn stop(self) -> Seen {
        let mut all = Seen::default();
        for w in self.workers {
            let s = w.stop();
            all.hist.merge(&s.hist);
            all.last_us = all.last_us.max(s.last_us);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::AtomicI64;
    use std::thread;

    /// A minimal IRC server: 001 after USER, 366 after JOIN; counts the registrations in
    /// flight (connected, not yet welcomed) and remembers the most at once. Each joined
    /// client is then sent `marked` lines stamped with the bench clock.
    fn fake_irc(marked: usize) -> (SocketAddr, Arc<AtomicI64>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (busy, most) = (Arc::new(AtomicI64::new(0)), Arc::new(AtomicI64::new(0)));
        let most2 = most.clone();
        thread::spawn(move || {
            for s in l.incoming().flatten() {
                let (busy, most) = (busy.clone(), most2.clone());
                let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                thread::spawn(move || serve(s, &busy, marked));
            }
        });
        (addr, most)
    }

    fn serve(s: TcpStream, busy: &AtomicI64, marked: usize) {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut w = s.try_clone().unwrap();
        for line in BufReader::new(s).lines().map_while(Result::ok) {
            if line.starts_with("USER") {
                // Slow enough that a window of 3 is what keeps the rest out.
                thread::sleep(Duration::from_millis(5));
                busy.fetch_sub(1, Ordering::SeqCst);
                w.write_all(b":srv 001 you :hi\r\nPING :srv\r\n").unwrap();
            } else if line.starts_with("JOIN") {
                w.write_all(b":srv 366 you #bench :end\r\n").unwrap();
                for k in 0..marked {
                    let l = format!(":a!b@c PRIVMSG #bench :ts={} #{k}\r\n", now_us());
                    w.write_all(l.as_bytes()).unwrap();
                }
            }
        }
    }

    #[test]
    fn a_crowd_logs_in_through_its_window_and_times_marked_lines() {
        let (addr, most) = fake_irc(5);
        let plan = Plan {
            kind: Kind::Ngircd,
            addrs: vec![addr],
            marker: "ts=",
            join: true,
            window: 3,
            workers: 2,
            tls: None,
        };
        let crowd = Crowd::start(&plan, 0, 20, Duration::from_secs(10)).unwrap();
        assert_eq!(crowd.len(), 20, "{:?}", crowd.failures);
        assert_eq!(crowd.retries, 0);
        assert!(most.load(Ordering::SeqCst) <= 3, "window exceeded");
        let deadline = Instant::now() + Duration::from_secs(10);
        while crowd.received() < 100 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let seen = crowd.stop();
        assert_eq!(seen.hist.count(), 100);
        assert!(seen.hist.latency().max_ms < 10_000.0);
    }

    #[test]
    fn a_refused_crowd_fails_instead_of_hanging() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let plan = Plan {
            kind: Kind::Chinwag,
            addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
            marker: "",
            join: false,
            window: 2,
            workers: 1,
            tls: None,
        };
        let crowd = Crowd::start(&plan, 0, 4, Duration::from_secs(10)).unwrap();
        assert_eq!(crowd.len(), 0);
        assert_eq!(crowd.failures.len(), 4);
        assert!(
            crowd.failures[0].contains("connect"),
            "{:?}",
            crowd.failures
        );
        crowd.stop();
    }
}
