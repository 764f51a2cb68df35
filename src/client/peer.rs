//! Private chat over TLS (BEHAVIOUR §8): the private-chat listener presents a fresh
//! self-signed certificate whose fingerprint goes to the server with the consent answer;
//! the server hands it to the asker with the token, and the asker's TLS client accepts
//! exactly that certificate. So a chat is TLS when either side's server connection is
//! (and between two plain chinwag clients too, which keeps out passive listeners only:
//! the fingerprint crossed the network in clear).
//!
//! The listener of a TLS-connected client takes TLS connections only, so a fingerprint
//! stripped on the way cannot downgrade its chat. A plain-connected client's listener
//! also takes plain connections (told apart by the first byte), from askers that were
//! given no fingerprint.

use crate::tls::{client_config, Duplex, Identity, Trust};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConfig, ServerConnection};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// The name a private-chat certificate carries (the fingerprint is what is checked).
const PEER_NAME: &str = "chinwag-peer";

/// A private-chat listener's certificate.
pub struct PeerIdentity {
    config: Arc<ServerConfig>,
    fingerprint: String,
    /// Plain connections are taken too (this client's server connection is plain).
    plain_too: bool,
}

impl PeerIdentity {
    /// A fresh one, made for this run of the client.
    pub fn generate() -> Result<PeerIdentity, String> {
        let identity = Identity::generate(&[PEER_NAME]).map_err(|e| e.to_string())?;
        Ok(PeerIdentity {
            config: identity.server_config().map_err(|e| e.to_string())?,
            fingerprint: identity.fingerprint(),
            plain_too: false,
        })
    }

    /// The same, also taking plain connections.
    pub fn and_plain(self) -> PeerIdentity {
        PeerIdentity {
            plain_too: true,
            ..self
        }
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Runs the server side of the handshake on an accepted connection (within
    /// `timeout`); a plain one is taken as it is, or refused unless [`Self::and_plain`].
    pub fn accept(&self, sock: TcpStream, timeout: Duration) -> io::Result<PeerStream> {
        sock.set_nonblocking(false)?;
        sock.set_read_timeout(Some(timeout))?;
        let mut first = [0u8; 1];
        if sock.peek(&mut first)? == 0 || !crate::tls::looks_like_tls(first[0]) {
            if self.plain_too {
                sock.set_read_timeout(None)?;
                return Ok(PeerStream::Plain(sock));
            }
            return Err(io::Error::new(ErrorKind::InvalidData, "not TLS"));
        }
        let conn = ServerConnection::new(self.config.clone()).map_err(io::Error::other)?;
        let duplex = Arc::new(Duplex::new(Arc::new(sock), conn));
        duplex.handshake()?;
        Ok(PeerStream::Tls(duplex))
    }
}

/// Connects the TLS client side to a listener that must present `fingerprint`.
pub fn dial(sock: TcpStream, fingerprint: &str) -> io::Result<PeerStream> {
    let trust = Trust::Fingerprint(fingerprint.to_string());
    let (config, _) = client_config(&trust, PEER_NAME).map_err(io::Error::other)?;
    let name = ServerName::try_from(PEER_NAME).map_err(io::Error::other)?;
    let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    let duplex = Arc::new(Duplex::new(Arc::new(sock), conn));
    duplex.handshake()?;
    Ok(PeerStream::Tls(duplex))
}

/// A private-chat connection, plain or TLS; clones share it.
pub enum PeerStream {
    Plain(TcpStream),
    Tls(Arc<Duplex>),
}

impl PeerStream {
    fn socket(&self) -> &TcpStream {
        match self {
            PeerStream::Plain(s) => s,
            PeerStream::Tls(d) => d.socket(),
        }
    }

    pub fn try_clone(&self) -> io::Result<PeerStream> {
        Ok(match self {
            PeerStream::Plain(s) => PeerStream::Plain(s.try_clone()?),
            PeerStream::Tls(d) => PeerStream::Tls(d.clone()),
        })
    }

    pub fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            PeerStream::Plain(s) => {
                let mut w: &TcpStream = s;
                w.write_all(buf)
            }
            PeerStream::Tls(d) => d.write_blocking(buf),
        }
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if let PeerStream::Tls(d) = self {
            d.close();
        }
        self.socket().shutdown(how)
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.socket().set_read_timeout(t)
    }

    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.socket().set_write_timeout(t)
    }

    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.socket().set_nonblocking(on)
    }
}

impl Read for PeerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            PeerStream::Plain(s) => s.read(buf),
            PeerStream::Tls(d) => d.read(buf, &|| {
                let _ = d.write_blocking(&[]);
            }),
        }
    }
}
