//! Sealed transfers (BEHAVIOUR §8): when the server hands both peers a key, every
//! datagram either side sends is sealed with ChaCha20-Poly1305 ([`crate::tls::Sealer`]),
//! and what arrives is opened before the transport sees it. A datagram that fails is
//! dropped and counted, never handed on, so nothing unauthenticated is ever written.
//!
//! A sealed datagram is [`SEALED`], the key's 8-byte id (a hash of the key, so which
//! transfer it belongs to is known without trying every key), then the sealed bytes. A
//! presenter has one key; an audience's one socket serves many transfers, each key
//! registered with its token, and once a datagram from an address opens under a key,
//! that address must seal everything (a plain datagram from it is dropped too).

use crate::tls::{Direction, Opener, Sealer, TransferKey};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// First byte of a sealed datagram (a plain one starts with `wire::MAGIC`).
pub(crate) const SEALED: u8 = 0xC8;
/// Bytes a sealed datagram adds to a plain one.
pub(crate) const OVERHEAD: usize = 1 + 8 + crate::tls::SEAL_OVERHEAD;
const _: () = assert!(
    super::DATAGRAM + OVERHEAD <= 1400,
    "a sealed datagram stays unfragmented"
);

type KeyId = [u8; 8];

/// One key's two directions.
struct Pair {
    id: KeyId,
    sealer: Sealer,
    opener: Opener,
}

fn key_id(key: &TransferKey) -> KeyId {
    let digest = Sha256::new_with_prefix(b"chinwag transfer key id").chain_update(key);
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest.finalize()[..8]);
    id
}

impl Pair {
    fn new(key: &TransferKey, presenter: bool) -> Arc<Pair> {
        let (out, back) = match presenter {
            true => (Direction::ToAudience, Direction::ToPresenter),
            false => (Direction::ToPresenter, Direction::ToAudience),
        };
        Arc::new(Pair {
            id: key_id(key),
            sealer: Sealer::new(key, out),
            opener: Opener::new(key, back),
        })
    }
}

/// The keys an audience was given, by id, and which token each belongs to; shared by
/// the receiver's handle (which registers) and its thread (which opens).
#[derive(Default, Clone)]
pub(crate) struct Keyring(Arc<Mutex<Ring>>, Arc<AtomicU64>);

#[derive(Default)]
struct Ring {
    by_id: HashMap<KeyId, Arc<Pair>>,
    tokens: HashMap<String, KeyId>,
}

impl Keyring {
    /// Transfers presenting `token` must be sealed with `key`.
    pub(crate) fn add(&self, token: &str, key: &TransferKey) {
        let pair = Pair::new(key, false);
        let mut ring = self.0.lock();
        ring.tokens.insert(token.to_string(), pair.id);
        ring.by_id.insert(pair.id, pair);
    }

    /// How many datagrams failed authentication so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.1.load(Ordering::Relaxed)
    }
}

impl super::Receiver {
    /// [`super::Receiver::expect`] a sealed transfer: its datagrams must open under `key`.
    pub fn expect_sealed(&self, token: &str, from: &str, file: &str, key: &TransferKey) {
        self.keys.add(token, key);
        self.expect(token, from, file);
    }

    /// Datagrams dropped so far because they failed authentication.
    pub fn dropped(&self) -> u64 {
        self.keys.dropped()
    }
}

/// A socket's sealing state.
pub(crate) struct Seals {
    /// The presenter's one key.
    own: Option<Arc<Pair>>,
    /// The audience's keys.
    ring: Keyring,
    /// Addresses whose datagrams opened under a key: they must seal everything.
    bound: HashMap<SocketAddr, Arc<Pair>>,
    /// The key the last datagram opened under (`None`: it came plain).
    last: Option<KeyId>,
    /// Where the datagram being sent is sealed (reused: no allocation per datagram).
    scratch: Vec<u8>,
}

impl Seals {
    /// A presenter's: everything sealed with `key`.
    pub(crate) fn presenter(key: &TransferKey) -> Seals {
        Seals::with(Some(Pair::new(key, true)), Keyring::default())
    }

    /// Makes `sock` an audience's: each datagram sealed with the key of the transfer it
    /// belongs to, from the keyring returned.
    pub(crate) fn audience(sock: &mut super::lossy::LossySocket) -> Keyring {
        let ring = Keyring::default();
        sock.seals = Some(Seals::with(None, ring.clone()));
        ring
    }

    fn with(own: Option<Arc<Pair>>, ring: Keyring) -> Seals {
        Seals {
            own,
            ring,
            bound: HashMap::new(),
            last: None,
            scratch: Vec::with_capacity(super::DATAGRAM + OVERHEAD),
        }
    }

    /// What to send for `plain` to `to`: sealed if `to` is a sealed peer.
    pub(crate) fn seal(&mut self, plain: &[u8], to: SocketAddr) -> Option<&[u8]> {
        let pair = self.own.as_ref().or_else(|| self.bound.get(&to))?;
        self.scratch.clear();
        self.scratch.push(SEALED);
        self.scratch.extend_from_slice(&pair.id);
        pair.sealer.seal_append(plain, &mut self.scratch);
        Some(&self.scratch)
    }

    /// Opens the `n` bytes of `buf` that came from `from` in place: the plain length, or
    /// `None` if the datagram is dropped (and counted).
    pub(crate) fn open(&mut self, buf: &mut [u8], n: usize, from: SocketAddr) -> Option<usize> {
        self.last = None;
        let opened = match buf[..n].split_first() {
            Some((&SEALED, rest)) if rest.len() >= 8 => self.open_sealed(&mut buf[1..n], from),
            _ if self.own.is_none() && !self.bound.contains_key(&from) => return Some(n),
            _ => None,
        };
        let Some(plain) = opened else {
            self.ring.1.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let len = plain.len();
        buf.copy_within(1 + plain.start..1 + plain.end, 0);
        Some(len)
    }

    /// Opens `[id][sealed]` in place; where the plaintext is, after the id.
    fn open_sealed(&mut self, rest: &mut [u8], from: SocketAddr) -> Option<Range<usize>> {
        let (id, sealed) = rest.split_at_mut(8);
        let pair = match (&self.own, self.bound.get(&from)) {
            (Some(own), _) => own.clone(),
            (None, Some(pair)) if pair.id == *id => pair.clone(),
            (None, _) => self.ring.0.lock().by_id.get(&*id)?.clone(),
        };
        if pair.id != *id {
            return None;
        }
        let plain = pair.opener.open_in_place(sealed)?;
        self.last = Some(pair.id);
        if self.own.is_none() {
            self.bound.entry(from).or_insert(pair);
        }
        Some(8 + plain.start..8 + plain.end)
    }

    /// Whether a START presenting `token` may begin a transfer: sealed with the token's
    /// key if it has one, plain if not.
    pub(crate) fn admits(&self, token: &str) -> bool {
        let mut ring = self.ring.0.lock();
        let want = ring.tokens.get(token).copied();
        if want != self.last {
            return false;
        }
        if want.is_some() {
            ring.tokens.remove(token);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::new_transfer_key;

    #[test]
    fn only_the_keyed_peer_opens_and_a_sealed_token_needs_its_key() {
        let key = new_transfer_key();
        let ring = Keyring::default();
        ring.add("sealed", &key);
        let mut audience = Seals::with(None, ring);
        let mut presenter = Seals::presenter(&key);
        let (p, stranger): (SocketAddr, SocketAddr) = (
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        );
        let mut buf = [0u8; 256];

        // A plain datagram from an unknown address passes (a plain transfer)...
        buf[..3].copy_from_slice(b"\xC7hi");
        assert_eq!(audience.open(&mut buf, 3, stranger), Some(3));
        assert!(audience.admits("plain") && !audience.admits("sealed"));
        // ...a sealed one opens and binds its address...
        let sealed = presenter.seal(b"start", p).unwrap().to_vec();
        buf[..sealed.len()].copy_from_slice(&sealed);
        assert_eq!(audience.open(&mut buf, sealed.len(), p), Some(5));
        assert_eq!(&buf[..5], b"start");
        assert!(!audience.admits("plain") && audience.admits("sealed"));
        // ...and the answer goes back sealed, which only the presenter opens.
        let back = audience.seal(b"ack", p).unwrap().to_vec();
        assert!(audience.seal(b"ack", stranger).is_none());
        buf[..back.len()].copy_from_slice(&back);
        assert_eq!(presenter.open(&mut buf, back.len(), p), Some(3));

        // Forgeries and plain datagrams from the bound address are dropped and counted.
        let mut forged = sealed.clone();
        forged[20] ^= 1;
        buf[..forged.len()].copy_from_slice(&forged);
        assert_eq!(audience.open(&mut buf, forged.len(), p), None);
        buf[..3].copy_from_slice(b"\xC7hi");
        assert_eq!(audience.open(&mut buf, 3, p), None);
        buf[..3].copy_from_slice(b"\xC7hi");
        assert_eq!(presenter.open(&mut buf, 3, p), None);
        assert_eq!(audience.ring.dropped(), 2);
    }
}
