//! TLS on the server's one port (BEHAVIOUR §8): a connection's first byte tells a TLS
//! client (a handshake record, 0x16) from a plain one (`{`); `--tls-required` refuses
//! plain ones.
//!
//! A TLS connection's `rustls::ServerConnection` sits behind one mutex, shared by the two
//! sides that touch it, and never held across a blocking call:
//!
//! - the session thread reads ciphertext from the (blocking) socket with no lock held,
//!   then feeds it to rustls and takes the plaintext out ([`Wire`]); handshake records and
//!   alerts this produces are sent at once without blocking, and what the socket would
//!   not take is left to the outbox's flusher;
//! - whoever holds a connection's outbox writing flag encrypts the queued lines into TLS
//!   records and sends them without blocking ([`TlsLink::send`]), so ciphertext leaves in
//!   queue order; the flusher finishes records a full socket would not take.

use super::outbox::Conn;
use crate::protocol::Event;
use crate::tls::Identity;
use parking_lot::Mutex;
use rustls::{ServerConfig, ServerConnection};
use socket2::SockRef;
use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

/// The server's TLS settings (`--tls` and friends).
#[derive(Debug, Clone)]
pub struct TlsSetup {
    pub config: Arc<ServerConfig>,
    /// `--tls-required`: plain connections are refused.
    pub required: bool,
    /// The certificate's fingerprint, printed at start-up.
    pub fingerprint: String,
}

impl TlsSetup {
    /// `--tls`, `--tls-cert`/`--tls-key`, `--tls-required` (each of which implies `--tls`).
    pub fn from_args(args: &super::Args, data_dir: &Path) -> Result<Option<TlsSetup>, String> {
        if !(args.tls || args.tls_required || args.tls_cert.is_some()) {
            return Ok(None);
        }
        let setup = TlsSetup::new(args.tls_cert.as_deref(), args.tls_key.as_deref(), data_dir)?;
        Ok(Some(TlsSetup {
            required: args.tls_required,
            ..setup
        }))
    }

    /// The identity of `--tls-cert`/`--tls-key`, or the one kept in DATA_DIR/tls/ (made
    /// there on the first start).
    pub fn new(
        cert: Option<&Path>,
        key: Option<&Path>,
        data_dir: &Path,
    ) -> Result<TlsSetup, String> {
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => Identity::load(cert, key),
            _ => Identity::load_or_create(&data_dir.join("tls")),
        };
        let failed = |e: crate::tls::TlsError| crate::text::tls_setup_failed(&e.to_string());
        let identity = identity.map_err(failed)?;
        Ok(TlsSetup {
            config: identity.server_config().map_err(failed)?,
            required: false,
            fingerprint: identity.fingerprint(),
        })
    }
}

/// Ciphertext read from the socket at a time (on the session thread's stack).
const RAW_READ: usize = 8 * 1024;

/// What a new connection turned out to be.
pub enum Opened {
    Plain,
    Tls,
    /// Plain under `--tls-required` (told so), or a TLS session that could not start.
    Refused,
}

/// Waits for a connection's first byte (the pre-login timeout closes a silent one, which
/// ends the wait) and sets the connection up as what it is.
pub fn open(tls: Option<&TlsSetup>, conn: &Conn, sock: &Arc<TcpStream>) -> Opened {
    let Some(tls) = tls else {
        return Opened::Plain;
    };
    let mut first = [0u8; 1];
    let is_tls = loop {
        match sock.peek(&mut first) {
            Ok(0) => return Opened::Plain, // closed: the read loop ends at once
            Ok(_) => break crate::tls::looks_like_tls(first[0]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Opened::Plain,
        }
    };
    if !is_tls {
        if !tls.required {
            return Opened::Plain;
        }
        conn.send_msg(&Event::Bye {
            text: crate::text::TLS_REQUIRED.to_string(),
            code: 1,
        });
        return Opened::Refused;
    }
    match ServerConnection::new(tls.config.clone()) {
        Ok(session) => {
            conn.use_tls(Arc::new(TlsLink {
                sock: sock.clone(),
                tls: Mutex::new(TlsState {
                    conn: session,
                    unread: Vec::new(),
                }),
            }));
            Opened::Tls
        }
        Err(e) => {
            log::warn!("cannot start a TLS session: {e}");
            Opened::Refused
        }
    }
}

/// One TLS connection's rustls state and socket.
pub struct TlsLink {
    sock: Arc<TcpStream>,
    tls: Mutex<TlsState>,
}

/// What the mutex guards: the rustls session, and ciphertext read but not yet fed to it.
struct TlsState {
    conn: ServerConnection,
    unread: Vec<u8>,
}

/// What one [`TlsLink::send`] did.
pub struct Sent {
    /// Plaintext bytes taken (encrypted into records, or buffered by rustls).
    pub taken: usize,
    /// Everything offered was taken and every record sent.
    pub done: bool,
    /// Some bytes went to the socket.
    pub progress: bool,
}

impl TlsLink {
    /// Encrypts as much of `batch` (less the first `skip` bytes) as rustls takes and sends
    /// the records without blocking. Records still waiting from before go first.
    pub fn send(&self, batch: &[Arc<[u8]>], skip: usize) -> io::Result<Sent> {
        let tls = &mut self.tls.lock().conn;
        let (mut progress, drained) = flush(&self.sock, tls)?;
        let mut taken = 0;
        if !drained {
            return Ok(Sent {
                taken,
                done: false,
                progress,
            });
        }
        for (i, line) in batch.iter().enumerate() {
            let part = if i == 0 { &line[skip..] } else { &line[..] };
            let n = tls.writer().write(part)?;
            taken += n;
            if n < part.len() {
                break;
            }
        }
        let (more, drained) = flush(&self.sock, tls)?;
        progress |= more;
        let all = batch.iter().map(|l| l.len()).sum::<usize>() - skip;
        Ok(Sent {
            taken,
            done: drained && taken == all,
            progress,
        })
    }

    /// Whether records wait to be sent.
    pub fn pending(&self) -> bool {
        self.tls.lock().conn.wants_write()
    }

    /// Says goodbye (close_notify) as far as the socket takes it without blocking.
    pub fn close(&self) {
        let tls = &mut self.tls.lock().conn;
        tls.send_close_notify();
        let _ = flush(&self.sock, tls);
    }

    /// Reads plaintext: what rustls holds, else ciphertext from the socket (blocking, with
    /// no lock held). 0 at the end of the connection.
    fn read(&self, conn: &Conn, out: &mut [u8]) -> io::Result<usize> {
        let mut raw = [0u8; RAW_READ];
        loop {
            if let Some(n) = self.take_plaintext(conn, out)? {
                return Ok(n);
            }
            let n = match (&*self.sock).read(&mut raw) {
                Ok(0) => return Ok(0),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.tls.lock().unread.extend_from_slice(&raw[..n]);
        }
    }

    /// Plaintext rustls holds, decrypting ciphertext already read as needed (and sending
    /// what rustls answers: handshake records, alerts); `None` once all of it is used.
    fn take_plaintext(&self, conn: &Conn, out: &mut [u8]) -> io::Result<Option<usize>> {
        let mut st = self.tls.lock();
        loop {
            match st.conn.reader().read(out) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(Some(0)),
                Err(e) => return Err(e),
            }
            if st.unread.is_empty() {
                st.unread = Vec::new(); // an idle client keeps no buffer
                return Ok(None);
            }
            let TlsState { conn: tls, unread } = &mut *st;
            let taken = tls.read_tls(&mut &unread[..])?;
            unread.drain(..taken);
            let processed = tls.process_new_packets();
            let (_, drained) = flush(&self.sock, tls)?;
            if let Err(e) = processed {
                return Err(io::Error::new(ErrorKind::InvalidData, e));
            }
            if !drained {
                drop(st);
                conn.flush_tls();
                st = self.tls.lock();
            }
        }
    }

    /// Whether plaintext is waiting in rustls (so a read will not block).
    fn readable(&self) -> bool {
        let mut st = self.tls.lock();
        !st.unread.is_empty()
            || st
                .conn
                .process_new_packets()
                .is_ok_and(|s| s.plaintext_bytes_to_read() > 0)
    }
}

/// Sends waiting records without blocking: (some were sent, none are left).
fn flush(sock: &TcpStream, tls: &mut ServerConnection) -> io::Result<(bool, bool)> {
    let mut progress = false;
    while tls.wants_write() {
        match tls.write_tls(&mut NoWait(sock)) {
            Ok(0) => return Ok((progress, false)),
            Ok(_) => progress = true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok((progress, false)),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((progress, true))
}

/// A socket written without blocking (the socket itself stays blocking for the reader).
struct NoWait<'a>(&'a TcpStream);

impl Write for NoWait<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        SockRef::from(self.0).send_with_flags(buf, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        SockRef::from(self.0)
            .send_vectored_with_flags(bufs, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What a session reads requests from: the socket itself, or the plaintext of its TLS
/// connection. Cheap to copy (the session's buffered reader is remade often).
#[derive(Clone, Copy)]
pub enum Wire<'a> {
    Plain(&'a TcpStream),
    Tls(&'a TlsLink, &'a Conn),
}

impl<'a> Wire<'a> {
    /// The wire of a connection set up by [`open`].
    pub fn of(sock: &'a TcpStream, conn: &'a Conn) -> Wire<'a> {
        match conn.tls() {
            Some(link) => Wire::Tls(link, conn),
            None => Wire::Plain(sock),
        }
    }

    /// Waits, holding no buffer, until something can be read (or the connection ends).
    pub fn wait(&self) {
        match self {
            Wire::Plain(sock) => {
                let _ = sock.peek(&mut [0u8; 1]);
            }
            Wire::Tls(link, _) if link.readable() => {}
            Wire::Tls(link, _) => {
                let _ = link.sock.peek(&mut [0u8; 1]);
            }
        }
    }
}

impl Read for Wire<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(sock) => sock.read(out),
            Wire::Tls(link, conn) => link.read(conn, out),
        }
    }
}
