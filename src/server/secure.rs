//! TLS on the server's one port (BEHAVIOUR §8): a connection's first byte tells a TLS
//! client (a handshake record, 0x16) from a plain one (`{`); `--tls-required` refuses
//! plain ones.
//!
//! A TLS connection's session is a [`crate::tls::Duplex`] shared by the session thread,
//! which reads through it ([`Wire`]), and whoever holds the connection's outbox writing
//! flag, which encrypts queued lines and sends the records without blocking, so
//! ciphertext leaves in queue order; the outbox's flusher finishes records a full socket
//! would not take, and records the reader side made (handshake, alerts).

use super::outbox::Conn;
use crate::protocol::Event;
use crate::tls::Identity;
use rustls::{ServerConfig, ServerConnection};
use std::io::{self, ErrorKind, Read};
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
            conn.use_tls(Arc::new(TlsLink::new(sock.clone(), session)));
            Opened::Tls
        }
        Err(e) => {
            log::warn!("cannot start a TLS session: {e}");
            Opened::Refused
        }
    }
}

/// One TLS connection's session and socket.
pub type TlsLink = crate::tls::Duplex;

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
                let _ = link.socket().peek(&mut [0u8; 1]);
            }
        }
    }
}

impl Read for Wire<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(sock) => sock.read(out),
            Wire::Tls(link, conn) => link.read(out, &|| conn.flush_tls()),
        }
    }
}
