//! Test support: an in-process server on 127.0.0.1:0 with its own data directory, a
//! protocol-level client with read timeouts, and a driver for the real `chinwag` binary in
//! scripted mode (killed on drop). Every wait here has a deadline, so a failure fails
//! instead of hanging.
#![cfg_attr(
    not(feature = "unused-test-helpers"),
    allow(
        dead_code,
        reason = "each test binary uses its own part of these helpers; \
                  scripts/unused_test_helpers.sh names those that none uses"
    )
)]

pub mod cluster;
pub mod cluster_mode;
pub mod redis_server;

use chinwag::protocol::{self, Command, Event, Request, Response, ServerMsg, Then};
use chinwag::server::{self, Config, State};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::io::{BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command as Proc, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any single expectation may wait.
pub const WAIT: Duration = Duration::from_secs(10);

/// The servers tests start write presence notices this often (the server's default,
/// 250 ms, only coalesces a login storm's notices; here it would make every test that
/// waits for "X logged in" wait for it). outbox's feed tests keep the default.
pub const NOTICE_LINGER: Duration = Duration::from_millis(5);

/// Seconds the clients tests start wait for a private-chat token before refusing a hello
/// (`CHINWAG_TOKEN_WAIT`; 3 s by default), so a test of a refusal does not wait 3 s.
pub const TOKEN_WAIT: &str = "0.5";

pub const CREDENTIALS: &str = "hans indiana#jones\nyoda wise\nluke lightsaber@#\nvader sithlord$9\nleia hairbuns*united\nobiwan (jedimaster)\n";

/// The password of a user in [`CREDENTIALS`].
pub fn password(user: &str) -> &'static str {
    CREDENTIALS
        .lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(u, _)| *u == user)
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("no password for {user}"))
}

/// A server running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: State,
    pub dir: tempfile::TempDir,
    thread: Option<JoinHandle<()>>,
    /// `CHINWAG_TEST_CLUSTER`: the other nodes and their Redis (see [`cluster_mode`]).
    nodes: Option<cluster_mode::Nodes>,
}

impl TestServer {
    /// Starts a server with default settings (sign-up on, 3 attempts, 10 s lockout).
    pub fn start() -> TestServer {
        TestServer::with(|_| {})
    }

    /// Starts a server after `tweak` adjusts the configuration.
    pub fn with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("credentials.txt"), CREDENTIALS).unwrap();
        TestServer::in_dir(dir, tweak)
    }

    /// Starts a server on an existing data directory (restart tests).
    pub fn in_dir(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            credentials: dir.path().join("credentials.txt"),
            quiet: true,
            notice_linger: NOTICE_LINGER,
            ..Config::default()
        };
        tweak(&mut config);
        if let Some(n) = cluster_mode::nodes() {
            let (first, nodes) = cluster_mode::start(dir.path(), &config, n);
            return TestServer {
                addr: first.addr,
                state: first.state,
                dir,
                thread: Some(first.thread),
                nodes: Some(nodes),
            };
        }
        let listener = server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = State::open(config).unwrap();
        let s = state.clone();
        let thread = std::thread::spawn(move || server::run(listener, s).unwrap());
        TestServer {
            addr,
            state,
            dir,
            thread: Some(thread),
            nodes: None,
        }
    }

    /// DATA_DIR/`name`; in cluster mode, for what the cluster keeps in Redis, the file
    /// as `chinwag-server export` writes it now.
    pub fn path(&self, name: &str) -> PathBuf {
        match &self.nodes {
            Some(nodes) if cluster_mode::in_redis(name) => nodes.exported(name),
            _ => self.dir.path().join(name),
        }
    }

    /// [`TestServer::path`] in the configured DATA_DIR (where a test moved it).
    pub fn data(&self, name: &str) -> PathBuf {
        match &self.nodes {
            Some(nodes) if cluster_mode::in_redis(name) => nodes.exported(name),
            _ => self.state.config().data_dir.join(name),
        }
    }

    /// Open connections, on every node in cluster mode.
    pub fn connections(&self) -> usize {
        let others = self
            .nodes
            .as_ref()
            .map_or(0, |n| n.others.iter().map(|o| o.state.connections()).sum());
        self.state.connections() + others
    }

    /// Shuts down and returns the data directory for a restart.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.halt();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    fn halt(&mut self) {
        self.state.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(nodes) = self.nodes.take() {
            nodes.stop();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A client speaking the protocol directly.
pub struct Client {
    w: BufWriter<TcpStream>,
    r: BufReader<TcpStream>,
    next: u64,
    /// Events received while waiting for a response.
    pub events: Vec<Event>,
    pub name: String,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::over(TcpStream::connect(cluster_mode::route(addr)).unwrap())
    }

    /// A client on a connected socket, with the read timeout every test relies on.
    fn over(s: TcpStream) -> Client {
        s.set_read_timeout(Some(WAIT)).unwrap();
        Client {
            w: BufWriter::new(s.try_clone().unwrap()),
            r: BufReader::new(s),
            next: 1,
            events: Vec::new(),
            name: String::new(),
        }
    }

    /// Connects and logs in; panics unless welcomed.
    pub fn login(addr: SocketAddr, user: &str, pw: &str) -> Client {
        let mut c = Client::connect(addr);
        let r = c.try_login(user, pw);
        assert_eq!(r.then, Then::LoggedIn, "{user}: {:?}", r.lines);
        c.name = user.to_string();
        c
    }

    /// Hello, username, password (or new password); returns the last response.
    pub fn try_login(&mut self, user: &str, pw: &str) -> Response {
        login_steps(|cmd| self.call(cmd), user, pw, 0)
    }

    pub fn send(&mut self, cmd: Command) -> u64 {
        let id = self.next;
        self.next += 1;
        self.w
            .write_all(&protocol::encode(&Request { id, cmd }))
            .unwrap();
        self.w.flush().unwrap();
        id
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.w.write_all(bytes)?;
        self.w.flush()
    }

    /// Reads the next message from the server.
    pub fn read(&mut self) -> Option<ServerMsg> {
        let mut buf = Vec::new();
        protocol::read_server_msg(&mut self.r, &mut buf).ok()
    }

    /// Sends and waits for the response, keeping events that arrive meanwhile.
    pub fn call(&mut self, cmd: Command) -> Response {
        let id = self.send(cmd);
        self.wait(id)
    }

    pub fn wait(&mut self, id: u64) -> Response {
        loop {
            match self.read() {
                Some(ServerMsg::Response(r)) if r.re == id => return r,
                Some(ServerMsg::Event(e)) => self.events.push(e),
                Some(_) => {}
                None => panic!("{}: connection ended waiting for response {id}", self.name),
            }
        }
    }

    /// The response's lines.
    pub fn lines(&mut self, cmd: Command) -> Vec<String> {
        self.call(cmd).lines
    }

    /// Waits for the next event (or takes one already received).
    pub fn event(&mut self) -> Event {
        if !self.events.is_empty() {
            return self.events.remove(0);
        }
        loop {
            match self.read() {
                Some(ServerMsg::Event(e)) => return e,
                Some(_) => {}
                None => panic!("{}: no event before the timeout", self.name),
            }
        }
    }

    /// Waits for the next text event.
    pub fn text(&mut self) -> String {
        loop {
            if let Event::Text { text, .. } | Event::Broadcast { text } = self.event() {
                return text;
            }
        }
    }

    /// Asserts nothing arrives within `d` (then restores the normal timeout).
    pub fn quiet_for(&mut self, d: Duration) {
        assert!(
            self.events.is_empty(),
            "{}: pending {:?}",
            self.name,
            self.events
        );
        self.r.get_ref().set_read_timeout(Some(d)).unwrap();
        let got = self.read();
        self.r.get_ref().set_read_timeout(Some(WAIT)).unwrap();
        assert!(got.is_none(), "{}: unexpected {got:?}", self.name);
    }

    pub fn text_cmd(&mut self, line: &str) -> Vec<String> {
        match chinwag::client::commands::parse(line) {
            Ok(chinwag::client::commands::Input::Server(c)) => self.lines(c),
            other => panic!("not a server command: {line}: {other:?}"),
        }
    }
}

/// The real `chinwag` binary in scripted mode.
pub struct Bin {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Receiver<String>,
    pub seen: Vec<String>,
}

impl Bin {
    /// Starts `chinwag` with `args` in `dir`.
    pub fn start(args: &[String], dir: &Path) -> Bin {
        Bin::start_with_env(args, dir, &[])
    }

    pub fn connect(addr: SocketAddr, dir: &Path) -> Bin {
        Bin::start(&["127.0.0.1".into(), addr.port().to_string()], dir)
    }

    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Closes standard input (end of input).
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Waits for a line containing `want`; returns it.
    pub fn expect(&mut self, want: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(want) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("timed out waiting for {want:?}; saw {:?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("output ended waiting for {want:?}; saw {:?}", self.seen)
                }
            }
        }
    }

    /// Logs in through the prompts.
    pub fn login(&mut self, user: &str, pw: &str) {
        self.expect("Username:");
        self.send(user);
        self.send(pw);
        self.expect("Welcome to chinwag!");
    }

    /// Waits for the process to exit; returns its code.
    pub fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "client did not exit; saw {:?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bin {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Splits the client's output into lines; a prompt (which has no newline) is released as
/// soon as it is complete.
fn read_output(mut stdout: impl std::io::Read, tx: crossbeam_channel::Sender<String>) {
    let mut pending = String::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = stdout.read(&mut chunk) {
        if n == 0 {
            break;
        }
        pending.push_str(&String::from_utf8_lossy(&chunk[..n]));
        while let Some(i) = pending.find('\n') {
            let line: String = pending.drain(..=i).collect();
            for part in split_prompts(line.trim_end()) {
                let _ = tx.send(part);
            }
        }
        if pending.ends_with(": ") {
            for part in split_prompts(&pending) {
                let _ = tx.send(part.trim_end().to_string());
            }
            pending.clear();
        }
    }
    if !pending.is_empty() {
        let _ = tx.send(pending);
    }
}

/// `Password: Welcome` arrives as one line in scripted mode (prompts have no newline):
/// split after each known prompt so tests can wait for either part.
fn split_prompts(line: &str) -> Vec<String> {
    const PROMPTS: [&str; 3] = [
        "Username: ",
        "Password: ",
        "This is a new user. Enter a password: ",
    ];
    let mut out = Vec::new();
    let mut rest = line;
    'outer: while !rest.is_empty() {
        for p in PROMPTS {
            if let Some(r) = rest.strip_prefix(p) {
                out.push(p.trim_end().to_string());
                rest = r;
                continue 'outer;
            }
        }
        out.push(rest.to_string());
        break;
    }
    out
}

/// Polls `f` until it returns true or the deadline passes.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Bin {
    /// Sends a line if the client is still reading; false once its input is gone (the
    /// process exited), where [`Bin::send`] would panic.
    pub fn try_send(&mut self, line: &str) -> bool {
        let Some(stdin) = self.stdin.as_mut() else {
            return false;
        };
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .is_ok()
    }

    /// Waits up to `within` for a line containing `want`; None if it did not come (lines
    /// seen meanwhile are kept in `seen`).
    pub fn try_expect(&mut self, want: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.out.recv_timeout(left).ok()?;
            self.seen.push(line.clone());
            if line.contains(want) {
                return Some(line);
            }
        }
    }
}

/// Binary payload frames (forum UPD/DWN) at the protocol level.
impl Client {
    /// Sends one frame; an empty `data` ends the stream.
    pub fn send_frame(&mut self, data: &[u8]) {
        protocol::write_frame(&mut self.w, data).unwrap();
        self.w.flush().unwrap();
    }

    /// Reads the next frame's bytes, keeping events that arrive before it; `None` if the
    /// connection ended or something other than a frame came.
    pub fn read_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.read()? {
                ServerMsg::Event(e) => self.events.push(e),
                ServerMsg::Bin { bin } => {
                    let mut buf = Vec::new();
                    protocol::read_frame_body(&mut self.r, bin, &mut buf).ok()?;
                    return Some(buf);
                }
                ServerMsg::Response(_) => return None,
            }
        }
    }

    /// `UPD`: the whole upload; returns the final response (or the refusal).
    pub fn upload(&mut self, title: &str, file: &str, data: &[u8]) -> Response {
        let id = self.send(Command::Upd {
            title: title.into(),
            file: file.into(),
            size: data.len() as u64,
        });
        let r = self.wait(id);
        if r.then != Then::SendData {
            return r;
        }
        for chunk in data.chunks(protocol::MAX_CHUNK) {
            self.send_frame(chunk);
        }
        self.send_frame(&[]);
        self.wait(id)
    }

    /// `DWN`: the refusal's lines as `Err`, or the file's bytes.
    pub fn download(&mut self, title: &str, file: &str) -> Result<Vec<u8>, Vec<String>> {
        let r = self.call(Command::Dwn {
            title: title.into(),
            file: file.into(),
        });
        if !matches!(r.then, Then::ReceiveData { .. }) {
            return Err(r.lines);
        }
        let mut out = Vec::new();
        loop {
            let chunk = self.read_frame().expect("a download frame");
            if chunk.is_empty() {
                return Ok(out);
            }
            out.extend_from_slice(&chunk);
        }
    }
}

impl Bin {
    /// Waits until every line of `wants` has been printed, each matched exactly (after
    /// trimming), in any order. Lines printed meanwhile are kept in `seen`.
    pub fn expect_all(&mut self, wants: &[&str]) {
        let deadline = Instant::now() + WAIT;
        let mut left: Vec<&str> = wants.to_vec();
        while !left.is_empty() {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(wait) {
                Ok(line) => {
                    if let Some(i) = left.iter().position(|w| *w == line.trim()) {
                        left.remove(i);
                    }
                    self.seen.push(line);
                }
                Err(e) => panic!("{e:?} waiting for {left:?}; saw {:?}", self.seen),
            }
        }
    }

    /// Waits for a line equal to `want` (after trimming).
    pub fn expect_line(&mut self, want: &str) {
        self.expect_all(&[want]);
    }
}

impl Bin {
    /// Starts `chinwag` with `args` in `dir`, with extra environment variables (e.g.
    /// `CHINWAG_UDP_LOSS`).
    pub fn start_with_env(args: &[String], dir: &Path, env: &[(&str, &str)]) -> Bin {
        let args: Vec<String> = args.iter().map(|a| cluster_mode::route_port(a)).collect();
        let mut child = Proc::new(env!("CARGO_BIN_EXE_chinwag"))
            .args(&args)
            .current_dir(dir)
            .env("CHINWAG_TOKEN_WAIT", TOKEN_WAIT)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::spawn(move || read_output(stdout, tx));
        Bin {
            stdin: child.stdin.take(),
            child,
            out: rx,
            seen: Vec::new(),
        }
    }

    /// [`Bin::connect`] with extra environment variables.
    pub fn connect_with_env(addr: SocketAddr, dir: &Path, env: &[(&str, &str)]) -> Bin {
        let args = ["127.0.0.1".to_string(), addr.port().to_string()];
        Bin::start_with_env(&args, dir, env)
    }
}

/// The real `chinwag-server` binary on an OS-picked port, in a data directory of the
/// caller's (crash and restart tests). Its stdout and stderr are drained by a thread into
/// `out`, so a chatty server never blocks on a full pipe. Killed (SIGKILL) on drop.
pub struct ServerProc {
    child: Child,
    pub addr: SocketAddr,
    pub out: Receiver<String>,
}

impl ServerProc {
    /// Starts `chinwag-server 0 --data-dir DIR ARGS...` and waits for its line
    /// `chinwag server listening on 0.0.0.0:PORT` (so not with `--quiet`).
    pub fn start(dir: &Path, args: &[&str]) -> ServerProc {
        ServerProc::start_limited(dir, args, None)
    }

    /// [`ServerProc::start`] with `ulimit -n NOFILE` (through bash) when given.
    pub fn start_limited(dir: &Path, args: &[&str], nofile: Option<u32>) -> ServerProc {
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Proc::new("bash");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(env!("CARGO_BIN_EXE_chinwag-server"));
                c
            }
            None => Proc::new(env!("CARGO_BIN_EXE_chinwag-server")),
        };
        let mut child = cmd
            .arg("0")
            .arg("--data-dir")
            .arg(dir)
            .arg("--notice-linger")
            .arg(NOTICE_LINGER.as_secs_f64().to_string())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let tx2 = tx.clone();
        std::thread::spawn(move || drain_lines(stdout, "", tx));
        std::thread::spawn(move || drain_lines(stderr, "stderr: ", tx2));
        // Start-up warnings (a torn tail cut away) may come first, on stderr.
        let deadline = Instant::now() + WAIT;
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                panic!("chinwag-server did not say where it listens");
            };
            if let Some(a) = line.strip_prefix("chinwag server listening on ") {
                break a.parse::<SocketAddr>().unwrap().port();
            }
            eprintln!("chinwag-server: {line}");
        };
        ServerProc {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            out: rx,
        }
    }

    /// A cluster node: `chinwag-server 0 --data-dir DIR --cluster URL --node NAME ARGS...`.
    pub fn node(dir: &Path, url: &str, name: &str, args: &[&str]) -> ServerProc {
        let mut all = vec!["--cluster", url, "--node", name];
        all.extend_from_slice(args);
        ServerProc::start(dir, &all)
    }

    /// Runs `chinwag-server ARGS...` to its exit (at most [`WAIT`]): the exit status
    /// and what it printed on stderr (for start-up refusals and `export`).
    pub fn run_to_exit(args: &[&str]) -> (std::process::ExitStatus, String, String) {
        let mut child = Proc::new(env!("CARGO_BIN_EXE_chinwag-server"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("chinwag-server {args:?} did not exit");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let read = |r: Option<&mut dyn std::io::Read>| {
            let mut text = String::new();
            r.map(|r| r.read_to_string(&mut text));
            text
        };
        let out = read(child.stdout.as_mut().map(|r| r as &mut dyn std::io::Read));
        let err = read(child.stderr.as_mut().map(|r| r as &mut dyn std::io::Read));
        (status, out, err)
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything printed so far.
    pub fn printed(&self) -> Vec<String> {
        self.out.try_iter().collect()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` (`-TERM`, `-STOP`, ...) with kill(1).
    pub fn signal(&self, sig: &str) {
        let pid = self.pid().to_string();
        let status = Proc::new("kill").args([sig, &pid]).status().unwrap();
        assert!(status.success(), "kill {sig} {pid}");
    }

    /// Waits (at most [`WAIT`]) for the process to exit by itself; its exit status.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "chinwag-server did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn drain_lines(r: impl std::io::Read, prefix: &str, tx: crossbeam_channel::Sender<String>) {
    use std::io::BufRead;
    for line in std::io::BufReader::new(r).lines() {
        let Ok(line) = line else { break };
        let _ = tx.send(format!("{prefix}{line}"));
    }
}

impl Client {
    /// Connects from a chosen local address (any 127.x.y.z works on loopback), so tests
    /// can play clients at different source addresses.
    pub fn connect_from(local: std::net::IpAddr, addr: SocketAddr) -> Client {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&SocketAddr::new(local, 0).into()).unwrap();
        sock.connect(&cluster_mode::route(addr).into()).unwrap();
        Client::over(sock.into())
    }
}

/// A protocol client that never panics, for tests where the server may cut it off or die
/// at any moment (chaos, crash): every step returns `None` once the connection is gone.
pub struct Link {
    w: BufWriter<TcpStream>,
    r: BufReader<TcpStream>,
    next: u64,
}

impl Link {
    pub fn connect(addr: SocketAddr) -> Option<Link> {
        let s = TcpStream::connect(cluster_mode::route(addr)).ok()?;
        s.set_read_timeout(Some(WAIT)).ok()?;
        Some(Link {
            w: BufWriter::new(s.try_clone().ok()?),
            r: BufReader::new(s),
            next: 1,
        })
    }

    /// Hello, username, then password or new password; the welcome response if welcomed.
    pub fn login(addr: SocketAddr, user: &str, pw: &str) -> Option<(Link, Response)> {
        let mut l = Link::connect(addr)?;
        l.call(Command::Hello {
            udp_port: 0,
            p2p_port: 0,
        })?;
        let r = l.call(Command::Username { name: user.into() })?;
        let r = match r.then {
            Then::AskPassword => l.call(Command::Password {
                password: pw.into(),
            })?,
            Then::AskNewPassword => l.call(Command::NewPassword {
                password: pw.into(),
            })?,
            _ => r,
        };
        (r.then == Then::LoggedIn).then_some((l, r))
    }

    pub fn send(&mut self, cmd: Command) -> Option<u64> {
        let id = self.next;
        self.next += 1;
        self.raw(&protocol::encode(&Request { id, cmd }))?;
        Some(id)
    }

    pub fn raw(&mut self, bytes: &[u8]) -> Option<()> {
        self.w.write_all(bytes).ok()?;
        self.w.flush().ok()
    }

    /// One binary payload frame (an upload's data).
    pub fn frame(&mut self, data: &[u8]) -> Option<()> {
        protocol::write_frame(&mut self.w, data).ok()?;
        self.w.flush().ok()
    }

    /// The next message of any kind.
    pub fn read(&mut self) -> Option<ServerMsg> {
        let mut buf = Vec::new();
        protocol::read_server_msg(&mut self.r, &mut buf).ok()
    }

    /// Sends and waits for the response; `None` if the server says goodbye or reports a
    /// protocol error instead.
    pub fn call(&mut self, cmd: Command) -> Option<Response> {
        self.call_inner(cmd, false)
    }

    /// For a reply that may be too long for one protocol line: it arrives as text events,
    /// then the response with the last line; put them back together. (Only where no
    /// other events can come.)
    pub fn call_long(&mut self, cmd: Command) -> Option<Response> {
        self.call_inner(cmd, true)
    }

    fn call_inner(&mut self, cmd: Command, long: bool) -> Option<Response> {
        let id = self.send(cmd)?;
        let mut texts = Vec::new();
        loop {
            match self.read()? {
                ServerMsg::Response(mut r) if r.re == id => {
                    texts.append(&mut r.lines);
                    r.lines = texts;
                    return Some(r);
                }
                ServerMsg::Event(Event::Text { text, .. } | Event::Broadcast { text }) if long => {
                    texts.push(text)
                }
                ServerMsg::Event(Event::Bye { .. } | Event::Error { .. }) => return None,
                _ => {}
            }
        }
    }

    /// The socket itself, for reading raw bytes (what is buffered here is skipped).
    pub fn socket(&mut self) -> &mut TcpStream {
        self.r.get_mut()
    }

    /// The response's lines joined.
    pub fn line(&mut self, cmd: Command) -> Option<String> {
        self.call(cmd).map(|r| r.lines.join("\n"))
    }
}

/// The login dialogue over any connection's `call`: hello (offering `udp_port`),
/// username, then password or new password as the server asks; the last response.
pub fn login_steps(
    mut call: impl FnMut(Command) -> Response,
    user: &str,
    pw: &str,
    udp_port: u16,
) -> Response {
    call(Command::Hello {
        udp_port,
        p2p_port: 0,
    });
    let r = call(Command::Username { name: user.into() });
    match r.then {
        Then::AskPassword => call(Command::Password {
            password: pw.into(),
        }),
        Then::AskNewPassword => call(Command::NewPassword {
            password: pw.into(),
        }),
        _ => r,
    }
}
