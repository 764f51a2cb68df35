//! In-process load clients: one small-stack thread per client, speaking the chinwag
//! protocol or plain RFC 1459 IRC. Each thread connects, logs in (and for IRC joins the
//! bench channel), hands its socket to the controller, then reads until the controller
//! shuts the socket down, timing every line that carries its scenario's marker
//! (`MARKER<micros since the bench started>`).

use crate::procs::{password, user_name, Kind};
use chinwag::protocol::{self, Command, Request, ServerMsg, Then};
use crossbeam_channel::{Receiver, Sender};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Stack of each client thread: 5,000 clients are 5,000 threads in this process too.
pub const CLIENT_STACK: usize = 128 * 1024;
/// The IRC channel every IRC client joins.
pub const CHANNEL: &str = "#bench";

/// Microseconds since the bench process first asked: the clock in every marker.
pub fn now_us() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// How a crowd of clients behaves.
#[derive(Clone)]
pub struct Plan {
    pub kind: Kind,
    pub addr: SocketAddr,
    /// Lines carrying this marker are timed and counted; empty = time nothing.
    pub marker: &'static str,
    /// IRC: join [`CHANNEL`] before reporting ready.
    pub join: bool,
    /// Counts every timed line received by the crowd.
    pub received: Arc<AtomicU64>,
    /// At most this many clients connecting and logging in at the same moment (0 = all
    /// at once). Scenarios that only need a crowd online use a ramp, so that ngircd's
    /// listen backlog of 10 does not turn their set-up into minutes of SYN retries.
    pub ramp: usize,
}

/// A place in the ramp, given back on drop.
struct Turn<'a> {
    gate: &'a Gate,
    ramp: usize,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.gate.leave(self.ramp);
    }
}

/// A counting semaphore for [`Plan::ramp`].
#[derive(Default)]
struct Gate {
    busy: parking_lot::Mutex<usize>,
    freed: parking_lot::Condvar,
}

impl Gate {
    fn enter(&self, max: usize) {
        if max == 0 {
            return;
        }
        let mut busy = self.busy.lock();
        while *busy >= max {
            self.freed.wait(&mut busy);
        }
        *busy += 1;
    }

    fn leave(&self, max: usize) {
        if max == 0 {
            return;
        }
        *self.busy.lock() -= 1;
        self.freed.notify_one();
    }
}

/// A client that logged in (or failed to).
struct Ready {
    sock: Option<Arc<TcpStream>>,
    retries: u64,
    started_us: u64,
    welcomed_us: u64,
    error: Option<String>,
}

/// What one client thread saw.
#[derive(Default)]
pub struct Report {
    pub latencies_us: Vec<u32>,
    pub last_us: u64,
}

/// A logged-in client's socket, writable from the controller's threads.
pub struct Link {
    pub kind: Kind,
    pub sock: Arc<TcpStream>,
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
        (&*self.sock).write_all(&line)
    }

    /// Sends one raw IRC line (CRLF added).
    pub fn irc(&self, line: &str) -> io::Result<()> {
        (&*self.sock).write_all(format!("{line}\r\n").as_bytes())
    }
}

/// A group of connected clients and their threads.
pub struct Crowd {
    pub links: Vec<Link>,
    pub failures: Vec<String>,
    /// Logins that had to reconnect after the server reset them.
    pub retries: u64,
    /// When the first client started connecting, and how long each took to be welcomed
    /// (connect to welcome, µs) and when (µs).
    pub go_us: u64,
    pub login_us: Vec<u64>,
    pub welcomed_us: Vec<u64>,
    threads: Vec<JoinHandle<Report>>,
    /// The plan's count of timed lines received.
    pub counter: Arc<AtomicU64>,
    /// Every socket connected, logged in or not, so `stop` can wake every thread.
    all: Registry,
}

type Registry = Arc<parking_lot::Mutex<Vec<Arc<TcpStream>>>>;

impl Crowd {
    /// Starts `n` clients numbered from `first`, all connecting at once after every
    /// thread is up, and waits (at most `timeout`) until each is logged in or failed.
    pub fn start(plan: &Plan, first: usize, n: usize, timeout: Duration) -> Result<Crowd, String> {
        let barrier = Arc::new(Barrier::new(n + 1));
        let (tx, rx) = crossbeam_channel::unbounded::<(usize, Ready)>();
        let all: Registry = Arc::default();
        let gate: Arc<Gate> = Arc::default();
        let mut threads = Vec::with_capacity(n);
        for i in first..first + n {
            let (plan, b, tx, all) = (plan.clone(), barrier.clone(), tx.clone(), all.clone());
            let gate = gate.clone();
            let spawned = thread::Builder::new()
                .name(format!("client-{i}"))
                .stack_size(CLIENT_STACK)
                .spawn(move || {
                    let ramp = plan.ramp;
                    client_main(plan, i, b, tx, all, &gate, ramp)
                });
            match spawned {
                Ok(h) => threads.push(h),
                Err(e) => {
                    // The barrier would never open: release the threads already waiting.
                    for _ in threads.len()..n {
                        let b = barrier.clone();
                        thread::spawn(move || b.wait());
                    }
                    barrier.wait();
                    return Err(format!("cannot start client thread {i}: {e}"));
                }
            }
        }
        drop(tx);
        barrier.wait();
        collect(rx, threads, all, n, timeout, plan)
    }

    /// Logged-in clients.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// Closes every socket and gathers what each thread saw.
    pub fn stop(self) -> Vec<Report> {
        for s in self.all.lock().iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
        self.threads
            .into_iter()
            .filter_map(|h| h.join().ok())
            .collect()
    }
}

fn collect(
    rx: Receiver<(usize, Ready)>,
    threads: Vec<JoinHandle<Report>>,
    all: Registry,
    n: usize,
    timeout: Duration,
    plan: &Plan,
) -> Result<Crowd, String> {
    let kind = plan.kind;
    let deadline = Instant::now() + timeout;
    let mut crowd = Crowd {
        links: Vec::with_capacity(n),
        failures: Vec::new(),
        retries: 0,
        go_us: u64::MAX,
        login_us: Vec::with_capacity(n),
        welcomed_us: Vec::with_capacity(n),
        threads,
        counter: plan.received.clone(),
        all,
    };
    while crowd.links.len() + crowd.failures.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((index, r)) => match (r.sock, r.error) {
                (Some(sock), None) => {
                    crowd.go_us = crowd.go_us.min(r.started_us);
                    crowd.retries += r.retries;
                    crowd
                        .login_us
                        .push(r.welcomed_us.saturating_sub(r.started_us));
                    crowd.welcomed_us.push(r.welcomed_us);
                    crowd.links.push(Link {
                        kind,
                        sock,
                        index,
                        next_id: 3,
                    });
                }
                (sock, err) => {
                    if let Some(s) = sock {
                        let _ = s.shutdown(Shutdown::Both);
                    }
                    crowd.failures.push(err.unwrap_or_else(|| "failed".into()));
                }
            },
            Err(_) => {
                let missing = n - crowd.links.len() - crowd.failures.len();
                crowd.failures.extend(std::iter::repeat_n(
                    format!("not logged in within {timeout:?}"),
                    missing,
                ));
                break;
            }
        }
    }
    if crowd.go_us == u64::MAX {
        crowd.go_us = now_us();
    }
    crowd.links.sort_by_key(|l| l.index);
    Ok(crowd)
}

/// Reads from a shared socket.
struct SockRead(Arc<TcpStream>);

impl Read for SockRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

fn client_main(
    plan: Plan,
    i: usize,
    barrier: Arc<Barrier>,
    tx: Sender<(usize, Ready)>,
    all: Registry,
    gate: &Gate,
    ramp: usize,
) -> Report {
    barrier.wait();
    gate.enter(ramp);
    let turn = Turn { gate, ramp };
    let started_us = now_us();
    let mut line = Vec::with_capacity(256);
    let mut retries = 0;
    // A connection the server resets during login (ngircd does under a connect burst) is
    // tried again, as a real client would; the retries are counted.
    let (sock, mut r) = loop {
        let sock = match connect(plan.addr) {
            Ok(s) => {
                let s = Arc::new(s);
                all.lock().push(s.clone());
                s
            }
            Err(e) => {
                let _ = tx.send((i, failed(None, format!("connect: {e}"))));
                return Report::default();
            }
        };
        let mut r = BufReader::with_capacity(8 * 1024, SockRead(sock.clone()));
        let logged_in = match plan.kind {
            Kind::Chinwag => chinwag_login(&sock, &mut r, &mut line, i),
            Kind::Irc => irc_login(&sock, &mut r, &mut line, i, plan.join),
        };
        match logged_in {
            Ok(()) => break (sock, r),
            Err(e) if retries < 3 && e.contains("os error 104") => {
                retries += 1;
                let _ = sock.shutdown(Shutdown::Both);
                thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                let _ = tx.send((i, failed(Some(sock), e)));
                return Report::default();
            }
        }
    };
    let ready = Ready {
        sock: Some(sock.clone()),
        retries,
        started_us,
        welcomed_us: now_us(),
        error: None,
    };
    drop(turn);
    if tx.send((i, ready)).is_err() {
        return Report::default();
    }
    drop(tx);
    receive(&plan, &sock, &mut r, &mut line)
}

fn failed(sock: Option<Arc<TcpStream>>, error: String) -> Ready {
    Ready {
        sock,
        retries: 0,
        started_us: 0,
        welcomed_us: 0,
        error: Some(error),
    }
}

/// Connects, retrying briefly: a burst of thousands of connects can overflow the backlog.
fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let mut last = None;
    for attempt in 0..5 {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(10)) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
        thread::sleep(Duration::from_millis(100 << attempt));
    }
    Err(last.expect("at least one attempt"))
}

fn next_line<R: BufRead>(r: &mut R, line: &mut Vec<u8>) -> io::Result<bool> {
    line.clear();
    let n = r.read_until(b'\n', line)?;
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(n > 0)
}

fn chinwag_call<R: BufRead>(
    sock: &TcpStream,
    r: &mut R,
    line: &mut Vec<u8>,
    id: u64,
    cmd: Command,
) -> Result<protocol::Response, String> {
    let mut w = sock;
    w.write_all(&protocol::encode(&Request { id, cmd }))
        .map_err(|e| format!("send: {e}"))?;
    loop {
        if !next_line(r, line).map_err(|e| format!("read: {e}"))? {
            return Err("connection closed during login".into());
        }
        if line.starts_with(b"{\"re\":") {
            if let Ok(ServerMsg::Response(resp)) = protocol::decode::<ServerMsg>(line) {
                if resp.re == id {
                    return Ok(resp);
                }
            }
        } else if line.starts_with(b"{\"ev\":\"bye\"") || line.starts_with(b"{\"ev\":\"error\"") {
            return Err(String::from_utf8_lossy(line).into_owned());
        }
    }
}

/// hello, username, then password or new password (sign-up) as the server asks.
fn chinwag_login<R: BufRead>(
    sock: &TcpStream,
    r: &mut R,
    line: &mut Vec<u8>,
    i: usize,
) -> Result<(), String> {
    let hello = Command::Hello {
        udp_port: 0,
        p2p_port: 0,
    };
    chinwag_call(sock, r, line, 1, hello)?;
    let asked = chinwag_call(sock, r, line, 2, Command::Username { name: user_name(i) })?;
    let pw = password(i);
    let cmd = match asked.then {
        Then::AskPassword => Command::Password { password: pw },
        Then::AskNewPassword => Command::NewPassword { password: pw },
        other => return Err(format!("username refused: {other:?} {:?}", asked.lines)),
    };
    let done = chinwag_call(sock, r, line, 3, cmd)?;
    if done.then != Then::LoggedIn {
        return Err(format!("not welcomed: {:?}", done.lines));
    }
    Ok(())
}

/// NICK and USER, wait for 001; optionally JOIN and wait for the end of NAMES (366).
fn irc_login<R: BufRead>(
    sock: &TcpStream,
    r: &mut R,
    line: &mut Vec<u8>,
    i: usize,
    join: bool,
) -> Result<(), String> {
    let nick = user_name(i);
    let mut w = sock;
    w.write_all(format!("NICK {nick}\r\nUSER {nick} 0 * :bench\r\n").as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    irc_wait(sock, r, line, "001")?;
    if join {
        w.write_all(format!("JOIN {CHANNEL}\r\n").as_bytes())
            .map_err(|e| format!("send: {e}"))?;
        irc_wait(sock, r, line, "366")?;
    }
    Ok(())
}

/// Reads until a line whose command is `code`, answering PINGs; fails on ERROR or 4xx.
fn irc_wait<R: BufRead>(
    sock: &TcpStream,
    r: &mut R,
    line: &mut Vec<u8>,
    code: &str,
) -> Result<(), String> {
    loop {
        if !next_line(r, line).map_err(|e| format!("read: {e}"))? {
            return Err("connection closed during login".into());
        }
        let text = String::from_utf8_lossy(line);
        let mut words = text.split(' ');
        let first = words.next().unwrap_or("");
        if first == "PING" {
            let _ = irc_pong(sock, &text);
            continue;
        }
        if first == "ERROR" {
            return Err(text.into_owned());
        }
        let cmd = words.next().unwrap_or("");
        if cmd == code {
            return Ok(());
        }
        if cmd.len() == 3 && cmd.starts_with('4') {
            return Err(text.into_owned());
        }
    }
}

fn irc_pong(sock: &TcpStream, ping: &str) -> io::Result<()> {
    let mut w = sock;
    w.write_all(format!("PONG{}\r\n", &ping[4..]).as_bytes())
}

/// The microsecond stamp after `marker` in `line`, if any.
pub fn stamp(line: &[u8], marker: &str) -> Option<u64> {
    let m = marker.as_bytes();
    if m.is_empty() || line.len() < m.len() {
        return None;
    }
    let at = line.windows(m.len()).position(|w| w == m)? + m.len();
    let digits = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&line[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// After login: time marked lines, answer PINGs, until the socket closes.
fn receive<R: BufRead>(plan: &Plan, sock: &TcpStream, r: &mut R, line: &mut Vec<u8>) -> Report {
    let mut rep = Report::default();
    while let Ok(true) = next_line(r, line) {
        if let Some(sent) = stamp(line, plan.marker) {
            let now = now_us();
            rep.latencies_us
                .push(now.saturating_sub(sent).min(u32::MAX as u64) as u32);
            rep.last_us = now;
            plan.received.fetch_add(1, Ordering::Relaxed);
        } else if plan.kind == Kind::Irc && line.starts_with(b"PING") {
            let _ = irc_pong(sock, &String::from_utf8_lossy(line));
        }
    }
    rep
}

#[cfg(test)]
mod tests {
    use super::stamp;

    #[test]
    fn stamps_are_found_after_their_marker() {
        let line = br#"{"ev":"text","text":"bench0: ts=12345 #7"}"#;
        assert_eq!(stamp(line, "ts="), Some(12345));
        assert_eq!(stamp(line, "dm="), None);
        assert_eq!(
            stamp(b":bench0!~b@h PRIVMSG #bench :ts=99", "ts="),
            Some(99)
        );
        assert_eq!(stamp(b"ts=", "ts="), None);
        assert_eq!(stamp(b"x", ""), None);
    }
}
