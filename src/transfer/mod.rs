//! Peer-to-peer file transfer over UDP: the public face of the transport.
//!
//! A presenter calls [`send_file`] towards an audience whose client runs a
//! [`Receiver`]. The chat server has already told both sides a one-time
//! token; the receiver only answers datagrams carrying a token it was told to
//! [`Receiver::expect`]. This file owns the public API surface (errors, name
//! validation, shared tuning constants) so the submodules can stay focused:
//!
//! * `wire`        – datagram layouts (encode/decode, no I/O).
//! * `lossy`       – loss injection ([`LossConfig`]) and the socket wrapper.
//! * `send_window` – sender ring buffer, SACK bookkeeping, RTT/RTO, loss detection.
//! * `sender`      – the [`send_file`] state machine (handshake, data, FIN).
//! * `session`     – one incoming transfer on the receiving side.
//! * `receiver`    – the receiving thread that multiplexes sessions.
//!
//! Durability note: the receiver closes the temp file and renames it after
//! the hash matched, without fsync (a crash right after may lose the file,
//! never show a wrong one under a name that was not verified in-process).

mod lossy;
mod receiver;
mod sealed;
mod send_window;
mod sender;
mod session;
mod wire;

#[cfg(test)]
mod test_files;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_failures;
#[cfg(test)]
mod tests_limits;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

pub use lossy::LossConfig;
pub use receiver::Receiver;
pub use sender::{send_file, send_file_sealed};

/// What the receiver reports to the client.
#[derive(Debug, Clone, PartialEq)]
pub enum RecvEvent {
    Received {
        from: String,
        file: String,
        saved_as: PathBuf,
    },
    Failed {
        from: String,
        file: String,
        reason: String,
    },
}

/// How far an incoming upload has got (for a progress bar); `done` 0 when it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct RecvProgress {
    pub from: String,
    pub file: String,
    pub done: u64,
    pub size: u64,
}

/// Most uploads one client receives at once; a START past it is refused (ABORT_BUSY).
pub const MAX_INCOMING: usize = 8;
/// Least time between two progress reports of one incoming upload.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Total UDP payload of a data datagram (header included). Must stay <= 1,400.
pub const DATAGRAM: usize = 1200;
/// File bytes carried by one data datagram.
pub(crate) const CHUNK: usize = DATAGRAM - wire::DATA_HEADER;
/// Sliding-window size in chunks (both sides); power of two.
pub(crate) const WINDOW: usize = 2048;
/// Requested SO_RCVBUF / SO_SNDBUF.
pub(crate) const SOCKET_BUFFER: usize = 4 << 20;
/// Silence after which a peer is declared gone.
pub(crate) const PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the peer's port may refuse datagrams (ICMP port unreachable, e.g. its
/// client was killed) before the peer is declared gone without waiting for
/// [`PEER_TIMEOUT`].
pub(crate) const REFUSED_GRACE: Duration = Duration::from_secs(1);

/// Why a transfer failed, as a short human-readable reason (see `Display`).
#[derive(Debug)]
pub enum TransferError {
    /// The file name (or sender name) is not acceptable.
    InvalidName(String),
    /// Local I/O failed (opening/reading the file, socket errors).
    Io(io::Error),
    /// Nothing heard from the peer for `PEER_TIMEOUT`.
    PeerNotResponding,
    /// The peer's port has refused datagrams for `REFUSED_GRACE` with nothing heard
    /// meanwhile: its client is gone.
    PeerGone,
    /// The receiver computed a different whole-file checksum.
    ChecksumMismatch,
    /// The source file changed size or content while being sent.
    FileChanged,
    /// The file cannot be described with 32-bit sequence numbers.
    TooLarge,
    /// The receiver aborted the transfer with this reason.
    PeerAborted(String),
    /// The receiver already receives [`MAX_INCOMING`] uploads.
    Busy,
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::InvalidName(n) => write!(f, "invalid file name {n:?}"),
            TransferError::Io(e) => write!(f, "i/o error: {e}"),
            TransferError::PeerNotResponding => f.write_str("peer not responding"),
            TransferError::PeerGone => f.write_str("peer gone (port unreachable)"),
            TransferError::ChecksumMismatch => f.write_str("checksum mismatch"),
            TransferError::FileChanged => f.write_str("file changed while reading"),
            TransferError::TooLarge => f.write_str("file too large"),
            TransferError::PeerAborted(r) => write!(f, "peer aborted: {r}"),
            TransferError::Busy => f.write_str("the audience is receiving too many files"),
        }
    }
}

impl std::error::Error for TransferError {}

impl From<io::Error> for TransferError {
    fn from(e: io::Error) -> Self {
        TransferError::Io(e)
    }
}

/// File names a transfer accepts: the same rule as thread titles and forum uploads.
pub use crate::names::valid_name as valid_file_name;

/// Create a UDP socket bound to `addr` with window-sized kernel buffers.
pub(crate) fn bind_udp(addr: std::net::SocketAddr) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the kernel caps these at net.core.{r,w}mem_max.
    let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
    sock.bind(&addr.into())?;
    Ok(sock.into())
}

/// Fail with `FileChanged` if the file grew, shrank or was modified since
/// `meta` was taken (everything up to its old length has been read).
pub(crate) fn check_unchanged(
    file: &mut std::fs::File,
    meta: &std::fs::Metadata,
) -> Result<(), TransferError> {
    let mut probe = [0u8; 1];
    if std::io::Read::read(file, &mut probe)? != 0 {
        return Err(TransferError::FileChanged);
    }
    let now = file.metadata()?;
    if now.len() != meta.len() || now.modified().ok() != meta.modified().ok() {
        return Err(TransferError::FileChanged);
    }
    Ok(())
}
