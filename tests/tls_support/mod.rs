//! TLS test support: a protocol client over rustls pinned to a fingerprint, the server's
//! printed fingerprint, and a relay that records every byte between a client and the
//! server. Every read has a deadline.
#![cfg_attr(
    not(feature = "unused-test-helpers"),
    allow(
        dead_code,
        reason = "each test binary uses its own part of these helpers; \
                  scripts/unused_test_helpers.sh names those that none uses"
    )
)]

use crate::common::{ServerProc, WAIT};
use chinwag::protocol::{self, Command, Request, Response, ServerMsg, Then};
use chinwag::tls::{client_config, Trust};
use parking_lot::Mutex;
use rustls::{ClientConnection, StreamOwned};
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

/// A data directory with the test credentials.
pub fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("credentials.txt"),
        crate::common::CREDENTIALS,
    )
    .unwrap();
    dir
}

/// The real server in `dir` with `args`, and the fingerprint it printed.
pub fn tls_server(dir: &std::path::Path, args: &[&str]) -> (ServerProc, String) {
    let server = ServerProc::start(dir, args);
    let fp = printed_fingerprint(&server);
    (server, fp)
}

/// The fingerprint a `--tls` server printed at start-up.
pub fn printed_fingerprint(server: &ServerProc) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = server.out.recv_timeout(left).expect("no fingerprint line");
        if let Some(fp) = line.strip_prefix("TLS certificate fingerprint ") {
            assert!(fp.starts_with("SHA256:") && fp.len() == 7 + 64, "{fp}");
            return fp.to_string();
        }
    }
}

/// A protocol client over TLS.
pub struct TlsClient {
    r: BufReader<StreamOwned<ClientConnection, TcpStream>>,
    next: u64,
}

impl TlsClient {
    /// Connects to `addr` trusting exactly `fingerprint`; the handshake error otherwise.
    pub fn connect(addr: SocketAddr, fingerprint: &str) -> Result<TlsClient, String> {
        let trust = Trust::Fingerprint(fingerprint.to_string());
        TlsClient::with(addr, &trust, None)
    }

    /// Connects under `trust`, TLS 1.2 only if `tls12`.
    pub fn with(addr: SocketAddr, trust: &Trust, name: Option<&str>) -> Result<TlsClient, String> {
        let (config, _) = client_config(trust, &addr.to_string()).map_err(|e| e.to_string())?;
        let name = name.unwrap_or("127.0.0.1").to_string().try_into().unwrap();
        let conn = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        let mut s = StreamOwned::new(conn, sock);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock).map_err(|e| e.to_string())?;
        }
        Ok(TlsClient {
            r: BufReader::new(s),
            next: 1,
        })
    }

    pub fn send(&mut self, cmd: Command) -> u64 {
        let id = self.next;
        self.next += 1;
        let s = self.r.get_mut();
        s.write_all(&protocol::encode(&Request { id, cmd }))
            .unwrap();
        s.flush().unwrap();
        id
    }

    pub fn read(&mut self) -> Option<ServerMsg> {
        let mut buf = Vec::new();
        protocol::read_server_msg(&mut self.r, &mut buf).ok()
    }

    /// The next event (skipping other messages).
    pub fn event(&mut self) -> chinwag::protocol::Event {
        loop {
            match self.read() {
                Some(ServerMsg::Event(e)) => return e,
                Some(_) => {}
                None => panic!("connection ended waiting for an event"),
            }
        }
    }

    pub fn call(&mut self, cmd: Command) -> Response {
        let id = self.send(cmd);
        loop {
            match self.read() {
                Some(ServerMsg::Response(r)) if r.re == id => return r,
                Some(_) => {}
                None => panic!("connection ended waiting for response {id}"),
            }
        }
    }

    /// Hello, username, password (or new password); the last response.
    pub fn login(&mut self, user: &str, pw: &str) -> Response {
        self.login_udp(user, pw, 0)
    }

    /// [`TlsClient::login`] saying files may be sent to `udp_port`.
    pub fn login_udp(&mut self, user: &str, pw: &str, udp_port: u16) -> Response {
        crate::common::login_steps(|cmd| self.call(cmd), user, pw, udp_port)
    }
}

/// Forum transfers (UPD/DWN frames) over TLS.
impl TlsClient {
    /// `UPD` of `data`; the final response.
    pub fn upload(&mut self, title: &str, file: &str, data: &[u8]) -> Response {
        let cmd = Command::Upd {
            title: title.into(),
            file: file.into(),
            size: data.len() as u64,
        };
        let r = self.call(cmd);
        if r.then != Then::SendData {
            return r;
        }
        let id = self.next - 1;
        let s = self.r.get_mut();
        for chunk in data.chunks(protocol::MAX_CHUNK).chain([&[][..]]) {
            protocol::write_frame(&mut *s, chunk).unwrap();
        }
        s.flush().unwrap();
        loop {
            match self.read() {
                Some(ServerMsg::Response(r)) if r.re == id => return r,
                Some(_) => {}
                None => panic!("connection ended during an upload"),
            }
        }
    }

    /// `DWN`: the file's bytes.
    pub fn download(&mut self, title: &str, file: &str) -> Vec<u8> {
        let r = self.call(Command::Dwn {
            title: title.into(),
            file: file.into(),
        });
        assert!(matches!(r.then, Then::ReceiveData { .. }), "{:?}", r.lines);
        let mut out = Vec::new();
        loop {
            match self.read().expect("a download frame") {
                ServerMsg::Bin { bin: 0 } => return out,
                ServerMsg::Bin { bin } => {
                    let mut buf = Vec::new();
                    protocol::read_frame_body(&mut self.r, bin, &mut buf).unwrap();
                    out.extend_from_slice(&buf);
                }
                _ => {}
            }
        }
    }
}

/// A TCP relay to `target` that records every byte either way.
pub struct Relay {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<u8>>>,
}

impl Relay {
    pub fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(target) else {
                    return;
                };
                pipe(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    &log,
                );
                pipe(server, client, &log);
            }
        });
        Relay { addr, seen }
    }

    /// Whether `needle` went through the relay in clear.
    pub fn saw(&self, needle: &str) -> bool {
        let seen = self.seen.lock();
        seen.windows(needle.len()).any(|w| w == needle.as_bytes())
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, log: &Arc<Mutex<Vec<u8>>>) {
    let log = log.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    log.lock().extend_from_slice(&buf[..n]);
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Both);
    });
}
