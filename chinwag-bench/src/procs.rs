//! The servers under test, as child processes: the real `chinwag-server` binary (found
//! next to the bench's own executable), ngircd and InspIRCd with generated configurations
//! (`ircd`). Each runs on a free loopback port in a temporary directory and is killed on
//! drop. Also reads a process's resident memory, threads, open files and CPU from /proc.

use crate::ircd;
use crate::login::Proto;
use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A port nobody listens on right now (bound and released; the server binds it next).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Which server a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chinwag,
    /// chinwag-server with `--tls`, its clients on TLS (`--tls`).
    ChinwagTls,
    /// Two `chinwag-server --cluster` nodes on one redis-server, the clients split
    /// between them (`--cluster`).
    ChinwagCluster,
    Ngircd,
    Inspircd,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Chinwag => "chinwag",
            Kind::ChinwagTls => "chinwag-tls",
            Kind::ChinwagCluster => "chinwag-2-nodes",
            Kind::Ngircd => "ngircd",
            Kind::Inspircd => "inspircd",
        }
    }

    pub fn proto(self) -> Proto {
        match self {
            Kind::Chinwag | Kind::ChinwagTls | Kind::ChinwagCluster => Proto::Chinwag,
            Kind::Ngircd | Kind::Inspircd => Proto::Irc,
        }
    }
}

/// A running server process.
pub struct Server {
    pub kind: Kind,
    pub addr: SocketAddr,
    /// Every port clients may use: `addr`, and a cluster's other nodes.
    pub addrs: Vec<SocketAddr>,
    /// A cluster's other processes (its second node, then redis-server).
    pub others: Vec<Child>,
    /// A cluster's Redis socket.
    pub redis: Option<std::path::PathBuf>,
    /// `chinwag-tls`: the client configuration that trusts its certificate.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    child: Child,
    _dir: TempDir,
}

impl Server {
    /// Starts `chinwag-server` quietly on a free port with room for `max_clients`. When
    /// `users` is given, credentials.txt is written first with `bench0..users` (password
    /// `pw` + the number).
    pub fn chinwag(
        exe: &Path,
        max_clients: usize,
        users: usize,
        tls: bool,
    ) -> Result<Server, String> {
        let dir = crate::udp::temp_dir("chinwag").map_err(|e| format!("temp dir: {e}"))?;
        write_credentials(dir.path(), users)?;
        let port = free_port().map_err(|e| e.to_string())?;
        let pinned = match tls {
            true => Some(crate::tls::pinned_config(dir.path())?),
            false => None,
        };
        let child = chinwag_command(exe, dir.path(), port, max_clients, tls)?
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let kind = if tls { Kind::ChinwagTls } else { Kind::Chinwag };
        let mut server = Server::wait_up(kind, port, child, dir)?;
        server.tls = pinned;
        Ok(server)
    }

    /// Two `chinwag-server --cluster` nodes (`a`, `b`) on one DATA_DIR and one
    /// redis-server (a Unix socket in the same temp dir, `appendonly yes`,
    /// `appendfsync always`, as the README asks), each with room for `max_clients`.
    pub fn chinwag_cluster(exe: &Path, max_clients: usize, users: usize) -> Result<Server, String> {
        let dir = crate::udp::temp_dir("chinwag-cluster").map_err(|e| format!("temp dir: {e}"))?;
        write_credentials(dir.path(), users)?;
        let sock = dir.path().join("redis.sock");
        let redis_dir = dir.path().join("redis");
        fs::create_dir_all(&redis_dir).map_err(|e| e.to_string())?;
        let redis = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(&sock)
            .arg("--dir")
            .arg(&redis_dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("cannot start redis-server (apt-get install redis-server): {e}")
            })?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            if Instant::now() > deadline {
                return Err("redis-server did not come up".into());
            }
            thread::sleep(Duration::from_millis(20));
        }
        let url = format!("redis+unix://{}", sock.display());
        let mut started = vec![redis];
        let mut addrs = Vec::new();
        for node in ["b", "a"] {
            let port = free_port().map_err(|e| e.to_string())?;
            let child = chinwag_command(exe, dir.path(), port, max_clients, false)?
                .args(["--cluster", &url, "--node", node])
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
            started.push(child);
            addrs.push(SocketAddr::from(([127, 0, 0, 1], port)));
        }
        let a = started.pop().expect("node a");
        let port_a = addrs[1].port();
        let b_addr = addrs[0];
        let mut server = Server::wait_up(Kind::ChinwagCluster, port_a, a, dir)?;
        started.reverse(); // node b, then redis
        server.others = started;
        while TcpStream::connect_timeout(&b_addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline + Duration::from_secs(10) {
                return Err("node b did not start listening".into());
            }
            thread::sleep(Duration::from_millis(50));
        }
        server.addrs = vec![server.addr, b_addr];
        server.redis = Some(sock);
        Ok(server)
    }

    /// Starts an IRC server (ngircd or InspIRCd) in the foreground with a generated
    /// configuration (see `ircd`).
    pub fn irc(kind: Kind, exe: &Path) -> Result<Server, String> {
        let dir = crate::udp::temp_dir(kind.name()).map_err(|e| format!("temp dir: {e}"))?;
        let port = free_port().map_err(|e| e.to_string())?;
        let mut cmd = ircd::command(kind, exe, dir.path(), port)?;
        let log = fs::File::create(dir.path().join("server.log")).map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        Server::wait_up(kind, port, child, dir)
    }

    fn wait_up(kind: Kind, port: u16, mut child: Child, dir: TempDir) -> Result<Server, String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                // Let the probe's disconnect settle before anything is measured.
                thread::sleep(Duration::from_millis(200));
                return Ok(Server {
                    kind,
                    addr,
                    addrs: vec![addr],
                    others: Vec::new(),
                    redis: None,
                    tls: None,
                    child,
                    _dir: dir,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
                return Err(format!("{} exited ({status}): {}", kind.name(), log.trim()));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} did not start listening on {addr}", kind.name()));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every process of the server (a cluster's nodes and Redis).
    pub fn pids(&self) -> Vec<u32> {
        let others = self.others.iter().map(Child::id);
        std::iter::once(self.pid()).chain(others).collect()
    }

    pub fn redis_socket(&self) -> Option<&Path> {
        self.redis.as_deref()
    }

    /// Resident memory, threads and open files of the server process now.
    pub fn usage(&self) -> io::Result<Usage> {
        let mut all = Usage::default();
        for pid in self.pids() {
            let u = Usage::of(pid)?;
            all.rss_kib += u.rss_kib;
            all.threads += u.threads;
            all.fds += u.fds;
        }
        Ok(all)
    }

    /// Has the process died (crashed, aborted)?
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(s)) => Some(s.to_string()),
            _ => None,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for c in &mut self.others {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `chinwag-server PORT` as the bench runs it, quiet, on `dir`, its stderr in
/// `dir`/server.log.
fn chinwag_command(
    exe: &Path,
    dir: &Path,
    port: u16,
    max_clients: usize,
    tls: bool,
) -> Result<Command, String> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.args(tls.then_some("--tls"))
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "-q", "--signup", "--rate-limit", "0"])
        .arg("--data-dir")
        .arg(dir)
        .arg("--max-clients")
        .arg(max_clients.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    Ok(cmd)
}

/// credentials.txt in `dir` with `bench0..users`.
fn write_credentials(dir: &Path, users: usize) -> Result<(), String> {
    let mut creds = String::new();
    for i in 0..users {
        creds.push_str(&format!("{} {}\n", user_name(i), password(i)));
    }
    fs::write(dir.join("credentials.txt"), creds)
        .map_err(|e| format!("cannot write credentials: {e}"))
}

/// Commands the Redis at `sock` has run so far (INFO commandstats; the INFO calls
/// themselves left out): all of them (a script's own calls included), PUBLISHes, and
/// scripts run (EVAL, EVALSHA).
pub fn redis_calls(sock: &Path) -> [u64; 3] {
    let out = Command::new("redis-cli")
        .arg("-s")
        .arg(sock)
        .args(["INFO", "commandstats"])
        .output();
    let Ok(out) = out else { return [0; 3] };
    let mut counts = [0; 3];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((name, stats)) = line
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        let calls = stats
            .split("calls=")
            .nth(1)
            .and_then(|c| c.split(',').next());
        let calls: u64 = calls.and_then(|c| c.parse().ok()).unwrap_or(0);
        if name == "info" {
            continue;
        }
        counts[0] += calls;
        counts[1] += if name == "publish" { calls } else { 0 };
        counts[2] += if name == "evalsha" || name == "eval" {
            calls
        } else {
            0
        };
    }
    counts
}

/// The bench's user names and passwords.
pub fn user_name(i: usize) -> String {
    format!("bench{i}")
}

pub fn password(i: usize) -> String {
    format!("pw{i}")
}

/// One process's footprint.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Usage {
    pub rss_kib: u64,
    pub threads: u64,
    pub fds: u64,
}

impl Usage {
    pub fn of(pid: u32) -> io::Result<Usage> {
        let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let fds = fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64;
        Ok(Usage {
            rss_kib: field("VmRSS:"),
            threads: field("Threads:"),
            fds,
        })
    }
}

/// CPU seconds (user + system) the process has used so far (clock ticks of 1/100 s).
pub fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat; here 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}
