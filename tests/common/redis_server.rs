//! A real redis-server for tests, shared by the library's unit tests (`cluster::testing`)
//! and the integration tests (`tests/common`): its own temp dir, a Unix socket (no port to
//! pick, none to collide), `appendonly yes` with `appendfsync always`, killed by PID on
//! drop. A server killed with [`RedisServer::kill9`] can be started again on the same
//! dir, and reloads its append-only file.
#![cfg_attr(
    not(feature = "unused-test-helpers"),
    allow(
        dead_code,
        reason = "each test binary uses its own part of these helpers; \
                  scripts/unused_test_helpers.sh names those that none uses"
    )
)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    dir: PathBuf,
    /// The temp dir `dir` is in, removed on drop (none for [`RedisServer::start_in`]).
    _temp: Option<tempfile::TempDir>,
    /// `Some(port)`: listening on 127.0.0.1:port as well.
    port: Option<u16>,
}

impl RedisServer {
    /// Starts one and waits (at most 10 s) until it answers.
    pub fn start() -> RedisServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut server = RedisServer::start_in(temp.path().to_path_buf());
        server._temp = Some(temp);
        server
    }

    /// Starts one on `dir` (created if missing), reloading the append-only file a
    /// server before it left there: a test server's restart keeps its Redis's data.
    pub fn start_in(dir: PathBuf) -> RedisServer {
        std::fs::create_dir_all(&dir).expect("redis dir");
        let mut server = RedisServer {
            child: None,
            dir,
            _temp: None,
            port: None,
        };
        server.restart();
        server
    }

    /// Starts one that also listens on a TCP port of 127.0.0.1 (picked by the OS for a
    /// moment, then handed to redis-server).
    pub fn start_tcp() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let temp = tempfile::tempdir().expect("temp dir");
        let mut server = RedisServer {
            child: None,
            dir: temp.path().to_path_buf(),
            _temp: Some(temp),
            port: Some(port),
        };
        server.restart();
        server
    }

    /// (Re)starts redis-server on this server's dir; what it had is loaded from its AOF.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is still running");
        let port = self.port.unwrap_or(0).to_string();
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--unixsocket"])
            .arg(self.socket())
            .args(["--dir"])
            .arg(&self.dir)
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(["--save", ""])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (.ci/run installs it)");
        self.child = Some(child);
        self.wait_until_up();
    }

    /// The URL nodes join: the Unix socket, or `redis://127.0.0.1:PORT` for
    /// [`RedisServer::start_tcp`].
    pub fn url(&self) -> String {
        match self.port {
            Some(port) => format!("redis://127.0.0.1:{port}"),
            None => format!("redis+unix://{}", self.socket().display()),
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let up = redis::Client::open(self.url())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if up.is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not come up in 10 s");
    }

    /// Runs one command straight on the server (to set up or inspect a test).
    pub fn command(&self, args: &[&str]) -> redis::Value {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap();
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut conn).unwrap()
    }

    /// Sends a signal to the server (STOP and CONT pause and resume it).
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let ok = Command::new("kill").args([sig, &pid]).status();
        assert!(ok.map(|s| s.success()).unwrap_or(false), "kill {sig} {pid}");
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.signal("-CONT");
        }
        self.kill9();
    }
}
