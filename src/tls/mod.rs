//! TLS between clients and the server, and between peers (BEHAVIOUR §8): identities,
//! fingerprints, and how a client trusts a server.
//!
//! Everything here is `rustls` (the maintained pure-Rust TLS stack, used blocking: no
//! async runtime) with its `ring` provider, `rcgen` for self-signed certificates and
//! `sha2` for fingerprints; nothing cryptographic is written here.
//!
//! - [`Identity`]: a certificate and key, from `--tls-cert`/`--tls-key` or made once and
//!   kept in DATA_DIR/tls/ (key 0600) so the fingerprint stays across restarts.
//! - [`client_config`] with a [`Trust`]: a CA file, a pinned fingerprint, or trust on first
//!   use through [`KnownServers`].
//! - [`Sealer`] and [`Opener`]: UDP upload datagrams sealed with ChaCha20-Poly1305.
//! - [`looks_like_tls`]: how one port tells a TLS client from a plain one by its first
//!   byte.

mod ca;
mod cert;
mod duplex;
mod known;
mod seal;
mod trust;

#[cfg(test)]
mod tests;

pub use cert::{fingerprint, Identity, CERT_FILE, KEY_FILE};
pub use duplex::{Duplex, Sent, TlsStream};
pub use known::{KnownServers, Lookup};
pub use seal::{new_transfer_key, Direction, Opener, Sealer, TransferKey, SEAL_OVERHEAD};
pub use trust::{client_config, AskFirstUse, Refusal, RefusalSlot, Trust};

use std::fmt;
use std::sync::Arc;

/// A TLS set-up problem, as one sentence for the user or the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(String);

impl TlsError {
    pub fn new(text: impl Into<String>) -> TlsError {
        TlsError(text.into())
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// The one crypto provider every configuration here uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Whether `text` is a fingerprint: `SHA256:` and 64 hex digits.
pub fn is_fingerprint(text: &str) -> bool {
    text.strip_prefix("SHA256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A transfer key as the protocol carries it: 64 hex digits.
pub fn key_hex(key: &TransferKey) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key of [`key_hex`]'s form; `None` if it is not 64 hex digits.
pub fn key_from_hex(hex: &str) -> Option<TransferKey> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

/// Whether a connection's first byte starts a TLS record (a handshake, 0x16). A plain
/// chinwag client always starts with `{`, the first byte of a JSON line.
pub fn looks_like_tls(first: u8) -> bool {
    first == 0x16
}
