//! `--tls`: the bench's clients over TLS, beside plain ones in the same run. A [`Sock`] is
//! a non-blocking socket, with a rustls client session when the server is `chinwag-tls`
//! (one mutex per connection, held only for non-blocking calls: the worker that reads and
//! the controller that sends never wait on each other for long). The server's certificate
//! is made in its data directory before it starts, so the bench pins its fingerprint.

use chinwag::tls::{client_config, Identity, Trust};
use parking_lot::Mutex;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Makes the certificate a `--tls` server in `data_dir` will use, and a client
/// configuration that trusts exactly it.
pub fn pinned_config(data_dir: &Path) -> Result<Arc<ClientConfig>, String> {
    let identity = Identity::load_or_create(&data_dir.join("tls")).map_err(|e| e.to_string())?;
    let trust = Trust::Fingerprint(identity.fingerprint());
    Ok(client_config(&trust, "bench").map_err(|e| e.to_string())?.0)
}

/// A bench client's socket: plain, or TLS.
pub struct Sock {
    tcp: TcpStream,
    tls: Option<Mutex<ClientConnection>>,
}

impl Deref for Sock {
    type Target = TcpStream;
    fn deref(&self) -> &TcpStream {
        &self.tcp
    }
}

impl Sock {
    pub fn new(tcp: TcpStream, tls: Option<&Arc<ClientConfig>>) -> io::Result<Sock> {
        let tls = match tls {
            Some(config) => {
                let name = ServerName::try_from("localhost").expect("a valid name");
                let conn = ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
                Some(Mutex::new(conn))
            }
            None => None,
        };
        Ok(Sock { tcp, tls })
    }

    /// Writes all of `bytes` (encrypted on TLS), waiting briefly whenever the socket is
    /// full.
    pub fn send_all(&self, bytes: &[u8]) -> io::Result<()> {
        let Some(tls) = &self.tls else {
            return crate::net::send_all(&self.tcp, bytes);
        };
        let mut tls = tls.lock();
        tls.writer().write_all(bytes)?;
        flush(&mut tls, &self.tcp)
    }

    /// Reads what arrived without blocking (`WouldBlock` if nothing); on TLS it fills
    /// `buf` as far as the socket has data, so a short read still means the socket is
    /// empty (the driver relies on that with edge-triggered readiness).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = &self.tls else {
            return (&self.tcp).read(buf);
        };
        let mut tls = tls.lock();
        let mut filled = 0;
        loop {
            match tls.reader().read(&mut buf[filled..]) {
                Ok(0) if filled == 0 => return Ok(0),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if filled == buf.len() {
                return Ok(filled);
            }
            match tls.read_tls(&mut &self.tcp) {
                Ok(0) if filled == 0 => return Ok(0),
                Ok(0) => return Ok(filled),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && filled > 0 => return Ok(filled),
                Err(e) => return Err(e),
            }
            tls.process_new_packets().map_err(io::Error::other)?;
            flush(&mut tls, &self.tcp)?;
        }
    }
}

/// Sends every record rustls holds, waiting briefly whenever the socket is full.
fn flush(tls: &mut ClientConnection, mut tcp: &TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(&mut tcp) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_micros(50))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
