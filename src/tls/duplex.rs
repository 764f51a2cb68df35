//! One TLS session over a blocking socket, shared by a thread that reads and whoever
//! writes (the server's outbox, a client's main thread, a private chat). The rustls state
//! sits behind one mutex that is never held across a blocking call:
//!
//! - a reader reads ciphertext from the socket with no lock held, then feeds it to rustls
//!   and takes the plaintext out ([`Duplex::read`]); records rustls answers with
//!   (handshake, alerts) are sent at once without blocking;
//! - a writer encrypts under the lock and sends either without blocking
//!   ([`Duplex::send_nowait`], the server's outbox, which leaves what a full socket would
//!   not take for later) or blocking with the records taken out first
//!   ([`Duplex::write_blocking`]), so no reader waits on a slow socket.

use parking_lot::Mutex;
use rustls::Connection;
use socket2::SockRef;
use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

/// Ciphertext read from the socket at a time (on the reader's stack).
const RAW_READ: usize = 8 * 1024;

/// A TLS session and its socket.
pub struct Duplex {
    sock: Arc<TcpStream>,
    st: Mutex<State>,
    /// Serialises blocking writers, so records reach the socket in the order they were
    /// made although the state lock is released while they are written.
    writing: Mutex<()>,
}

/// What the mutex guards: the rustls session, and ciphertext read but not yet fed to it.
struct State {
    conn: Connection,
    unread: Vec<u8>,
}

/// What one [`Duplex::send_nowait`] did.
pub struct Sent {
    /// Plaintext bytes taken (encrypted into records, or buffered by rustls).
    pub taken: usize,
    /// Everything offered was taken and every record sent.
    pub done: bool,
    /// Some bytes went to the socket.
    pub progress: bool,
}

impl Duplex {
    pub fn new(sock: Arc<TcpStream>, conn: impl Into<Connection>) -> Duplex {
        Duplex {
            sock,
            st: Mutex::new(State {
                conn: conn.into(),
                unread: Vec::new(),
            }),
            writing: Mutex::new(()),
        }
    }

    pub fn socket(&self) -> &TcpStream {
        &self.sock
    }

    /// Encrypts as much of `lines` (less the first `skip` bytes) as rustls takes and sends
    /// the records without blocking. Records still waiting from before go first.
    pub fn send_nowait(&self, lines: &[Arc<[u8]>], skip: usize) -> io::Result<Sent> {
        let tls = &mut self.st.lock().conn;
        let (mut progress, drained) = flush(&self.sock, tls)?;
        let mut taken = 0;
        if !drained {
            return Ok(Sent {
                taken,
                done: false,
                progress,
            });
        }
        for (i, line) in lines.iter().enumerate() {
            let part = if i == 0 { &line[skip..] } else { &line[..] };
            let n = tls.writer().write(part)?;
            taken += n;
            if n < part.len() {
                break;
            }
        }
        let (more, drained) = flush(&self.sock, tls)?;
        progress |= more;
        let all = lines.iter().map(|l| l.len()).sum::<usize>() - skip;
        Ok(Sent {
            taken,
            done: drained && taken == all,
            progress,
        })
    }

    /// Encrypts all of `buf` and writes the records, blocking (with the state unlocked).
    pub fn write_blocking(&self, buf: &[u8]) -> io::Result<()> {
        let _order = self.writing.lock();
        let mut records = Vec::new();
        let mut rest = buf;
        loop {
            {
                let tls = &mut self.st.lock().conn;
                let n = tls.writer().write(rest)?;
                rest = &rest[n..];
                while tls.wants_write() {
                    tls.write_tls(&mut records)?;
                }
            }
            (&*self.sock).write_all(&records)?;
            records.clear();
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// Whether records wait to be sent.
    pub fn pending(&self) -> bool {
        self.st.lock().conn.wants_write()
    }

    /// Whether the handshake is still going on.
    pub fn handshaking(&self) -> bool {
        self.st.lock().conn.is_handshaking()
    }

    /// The peer's certificate chain, once the handshake got that far.
    pub fn peer_certificate(&self) -> Option<Vec<u8>> {
        let st = self.st.lock();
        Some(st.conn.peer_certificates()?.first()?.to_vec())
    }

    /// Says goodbye (close_notify) as far as the socket takes it without blocking.
    pub fn close(&self) {
        let tls = &mut self.st.lock().conn;
        tls.send_close_notify();
        let _ = flush(&self.sock, tls);
    }

    /// Runs the handshake to its end on this thread (a client before it starts its reader
    /// thread, a private chat's two ends).
    pub fn handshake(&self) -> io::Result<()> {
        loop {
            self.write_blocking(&[])?;
            if !self.handshaking() {
                return Ok(());
            }
            self.take_plaintext(&mut [], &|| {})?;
            if !self.handshaking() {
                continue;
            }
            if self.read_socket()? == 0 {
                let closed = "the connection closed during the TLS handshake";
                return Err(io::Error::new(ErrorKind::UnexpectedEof, closed));
            }
        }
    }

    /// Reads plaintext: what rustls holds, else ciphertext from the socket (blocking, with
    /// no lock held). 0 at the end of the connection. `unsent` is called when records
    /// rustls made meanwhile wait for the socket.
    pub fn read(&self, out: &mut [u8], unsent: &dyn Fn()) -> io::Result<usize> {
        loop {
            if let Some(n) = self.take_plaintext(out, unsent)? {
                return Ok(n);
            }
            if self.read_socket()? == 0 {
                return Ok(0);
            }
        }
    }

    /// Reads ciphertext into `unread`; 0 at the end.
    fn read_socket(&self) -> io::Result<usize> {
        let mut raw = [0u8; RAW_READ];
        loop {
            match (&*self.sock).read(&mut raw) {
                Ok(n) => {
                    self.st.lock().unread.extend_from_slice(&raw[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Plaintext rustls holds, decrypting ciphertext already read as needed (and sending
    /// what rustls answers); `None` once all of it is used.
    fn take_plaintext(&self, out: &mut [u8], unsent: &dyn Fn()) -> io::Result<Option<usize>> {
        let mut st = self.st.lock();
        loop {
            if !out.is_empty() {
                match st.conn.reader().read(out) {
                    Ok(n) => return Ok(Some(n)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(Some(0)),
                    Err(e) => return Err(e),
                }
            }
            if st.unread.is_empty() {
                st.unread = Vec::new(); // an idle connection keeps no buffer
                return Ok(None);
            }
            let State { conn: tls, unread } = &mut *st;
            let taken = tls.read_tls(&mut &unread[..])?;
            unread.drain(..taken);
            let processed = tls.process_new_packets();
            let (_, drained) = flush(&self.sock, tls)?;
            if let Err(e) = processed {
                return Err(io::Error::new(ErrorKind::InvalidData, e));
            }
            if !drained {
                drop(st);
                unsent();
                st = self.st.lock();
            }
        }
    }

    /// Whether a read would not block: plaintext or ciphertext is waiting here.
    pub fn readable(&self) -> bool {
        let mut st = self.st.lock();
        !st.unread.is_empty()
            || st
                .conn
                .process_new_packets()
                .is_ok_and(|s| s.plaintext_bytes_to_read() > 0)
    }
}

/// Sends waiting records without blocking: (some were sent, none are left).
fn flush(sock: &TcpStream, tls: &mut Connection) -> io::Result<(bool, bool)> {
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

/// A TLS stream for one reader thread and writers elsewhere: clones share the session.
#[derive(Clone)]
pub struct TlsStream(pub Arc<Duplex>);

impl Read for TlsStream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let duplex = &self.0;
        duplex.read(out, &|| {
            let _ = duplex.write_blocking(&[]);
        })
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_blocking(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
