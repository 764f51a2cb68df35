//! Refusing a connection the server cannot take (full, or shutting down): one bye line,
//! then the connection is closed. A TLS client must get that line inside TLS, or all it
//! sees is a broken handshake, so on a `--tls` server refusals go to one refuser thread,
//! which waits (briefly) for the first byte, and for a TLS client completes the handshake,
//! sends the line and closes the session properly.

use super::secure::TlsSetup;
use crate::protocol::{encode, Event};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use rustls::{ServerConnection, StreamOwned};
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long a refused client has to start its handshake, and each read or write of it.
const REFUSE_WAIT: Duration = Duration::from_secs(2);
/// Refusals waiting for the refuser thread; beyond this they are told in plain at once.
const QUEUED: usize = 64;

/// Who tells refused connections: the accept thread itself, or the refuser thread.
pub struct Refuser {
    queue: Option<(Sender<Refusal>, JoinHandle<()>)>,
}

/// One connection to refuse, and why.
struct Refusal {
    sock: Arc<TcpStream>,
    closing: bool,
}

impl Refuser {
    /// A refuser for a server with `tls` (a thread of its own) or without (none).
    pub fn start(tls: Option<&TlsSetup>) -> std::io::Result<Refuser> {
        let Some(tls) = tls else {
            return Ok(Refuser { queue: None });
        };
        let (tx, rx) = crossbeam_channel::bounded(QUEUED);
        let config = tls.config.clone();
        let thread = thread::Builder::new()
            .name("refuser".into())
            .spawn(move || serve(&rx, &config))?;
        Ok(Refuser {
            queue: Some((tx, thread)),
        })
    }

    /// Tells `sock` the server is full (or `closing`) and closes it. Never blocks.
    pub fn refuse(&self, sock: Arc<TcpStream>, closing: bool) {
        let refusal = Refusal { sock, closing };
        let refusal = match &self.queue {
            None => refusal,
            Some((tx, _)) => match tx.try_send(refusal) {
                Ok(()) => return,
                Err(TrySendError::Full(r) | TrySendError::Disconnected(r)) => r,
            },
        };
        let _ = (&*refusal.sock).write_all(&refusal.line());
        let _ = refusal.sock.shutdown(Shutdown::Both);
    }

    /// Ends the refuser thread once it has told everyone queued.
    pub fn stop(self) {
        if let Some((tx, thread)) = self.queue {
            drop(tx);
            let _ = thread.join();
        }
    }
}

impl Refusal {
    /// The bye event, encoded.
    fn line(&self) -> Vec<u8> {
        let text = if self.closing {
            crate::text::SHUTTING_DOWN
        } else {
            crate::text::SERVER_FULL
        };
        encode(&Event::Bye {
            text: text.to_string(),
            code: if self.closing { 0 } else { 1 },
        })
    }
}

/// The refuser thread: tells each queued connection, until the queue is closed.
fn serve(rx: &Receiver<Refusal>, config: &Arc<rustls::ServerConfig>) {
    for refusal in rx {
        let sock = &*refusal.sock;
        let _ = sock.set_read_timeout(Some(REFUSE_WAIT));
        let _ = sock.set_write_timeout(Some(REFUSE_WAIT));
        let mut first = [0u8; 1];
        let is_tls = matches!(sock.peek(&mut first), Ok(1) if crate::tls::looks_like_tls(first[0]));
        let line = refusal.line();
        let told = match (is_tls, ServerConnection::new(config.clone())) {
            (true, Ok(session)) => tell_tls(session, sock, &line),
            _ => (&*sock).write_all(&line),
        };
        if let Err(e) = told {
            log::debug!("could not tell a refused connection: {e}");
        }
        let _ = sock.shutdown(Shutdown::Both);
    }
}

/// Completes the handshake, sends `line` and closes the TLS session.
fn tell_tls(session: ServerConnection, sock: &TcpStream, line: &[u8]) -> std::io::Result<()> {
    let mut tls = StreamOwned::new(session, sock.try_clone()?);
    tls.write_all(line)?;
    tls.conn.send_close_notify();
    tls.flush()
}
