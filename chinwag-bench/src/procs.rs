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
    Ngircd,
    Inspircd,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Chinwag => "chinwag",
            Kind::ChinwagTls => "chinwag-tls",
            Kind::Ngircd => "ngircd",
            Kind::Inspircd => "inspircd",
        }
    }

    pub fn proto(self) -> Proto {
        match self {
            Kind::Chinwag | Kind::ChinwagTls => Proto::Chinwag,
            Kind::Ngircd | Kind::Inspircd => Proto::Irc,
        }
    }
}

/// A running server process.
pub struct Server {
    pub kind: Kind,
    pub addr: SocketAddr,
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
        let mut creds = String::new();
        for i in 0..users {
            creds.push_str(&format!("{} {}\n", user_name(i), password(i)));
        }
        fs::write(dir.path().join("credentials.txt"), creds)
            .map_err(|e| format!("cannot write credentials: {e}"))?;
        let port = free_port().map_err(|e| e.to_string())?;
        let log = fs::File::create(dir.path().join("server.log")).map_err(|e| e.to_string())?;
        let pinned = match tls {
            true => Some(crate::tls::pinned_config(dir.path())?),
            false => None,
        };
        let child = Command::new(exe)
            .args(tls.then_some("--tls"))
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "-q", "--signup", "--rate-limit", "0"])
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--max-clients")
            .arg(max_clients.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let kind = if tls { Kind::ChinwagTls } else { Kind::Chinwag };
        let mut server = Server::wait_up(kind, port, child, dir)?;
        server.tls = pinned;
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

    /// Resident memory, threads and open files of the server process now.
    pub fn usage(&self) -> io::Result<Usage> {
        Usage::of(self.pid())
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
    }
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
