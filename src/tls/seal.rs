//! Sealing peer-to-peer UDP datagrams (BEHAVIOUR §8): ChaCha20-Poly1305 under a fresh
//! 256-bit key per transfer, which the server hands both peers over their TLS links.
//!
//! A sealed datagram is an 8-byte counter in the clear, then the ciphertext and its tag.
//! The nonce is the direction (presenter to audience or back, so the two sides never
//! share a nonce under one key) and that counter, which each side's [`Sealer`] never
//! repeats. A datagram that fails authentication is dropped and counted by the
//! [`Opener`], never handed on; a replayed one is a duplicate, which the transport's
//! sequence numbers already discard.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes a sealed datagram adds: the counter and the Poly1305 tag.
pub const SEAL_OVERHEAD: usize = 8 + 16;

/// A transfer's key.
pub type TransferKey = [u8; 32];

/// Which way a datagram goes: each direction has its own nonces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToAudience = 1,
    ToPresenter = 2,
}

/// A fresh random key for one transfer.
pub fn new_transfer_key() -> TransferKey {
    rand::random()
}

fn nonce(dir: Direction, counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&(dir as u32).to_be_bytes());
    n[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

fn cipher(key: &TransferKey) -> LessSafeKey {
    let key = UnboundKey::new(&CHACHA20_POLY1305, key).expect("a 256-bit key");
    LessSafeKey::new(key)
}

/// Seals what one side sends in one direction.
pub struct Sealer {
    cipher: LessSafeKey,
    dir: Direction,
    next: AtomicU64,
}

impl Sealer {
    pub fn new(key: &TransferKey, dir: Direction) -> Sealer {
        Sealer {
            cipher: cipher(key),
            dir,
            next: AtomicU64::new(0),
        }
    }

    /// Appends the sealed form of `plain` to `out`, encrypting in place (no allocation
    /// once `out` has grown: the per-datagram path).
    pub fn seal_append(&self, plain: &[u8], out: &mut Vec<u8>) {
        let counter = self.next.fetch_add(1, Ordering::Relaxed);
        out.extend_from_slice(&counter.to_be_bytes());
        let start = out.len();
        out.extend_from_slice(plain);
        let tag = self
            .cipher
            .seal_in_place_separate_tag(nonce(self.dir, counter), Aad::empty(), &mut out[start..])
            .expect("ChaCha20-Poly1305 seals any datagram-sized input");
        out.extend_from_slice(tag.as_ref());
    }

    /// The sealed form of `plain`.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plain.len() + SEAL_OVERHEAD);
        self.seal_append(plain, &mut out);
        out
    }
}

/// Opens what one side receives from one direction, counting what it drops.
pub struct Opener {
    cipher: LessSafeKey,
    dir: Direction,
    dropped: AtomicU64,
}

impl Opener {
    pub fn new(key: &TransferKey, dir: Direction) -> Opener {
        Opener {
            cipher: cipher(key),
            dir,
            dropped: AtomicU64::new(0),
        }
    }

    /// The plaintext of an authentic datagram; `None` (and one more dropped) otherwise.
    pub fn open(&self, datagram: &[u8]) -> Option<Vec<u8>> {
        let mut copy = datagram.to_vec();
        let range = self.open_in_place(&mut copy)?;
        Some(copy[range].to_vec())
    }

    /// [`Opener::open`] in place: decrypts `datagram` where it lies and returns where the
    /// plaintext is in it; `None` (counted) if it fails, its bytes then garbage.
    pub fn open_in_place(&self, datagram: &mut [u8]) -> Option<std::ops::Range<usize>> {
        let opened = (datagram.len() >= SEAL_OVERHEAD)
            .then(|| {
                let (head, rest) = datagram.split_at_mut(8);
                let counter = u64::from_be_bytes(head.try_into().expect("8 bytes"));
                let n = nonce(self.dir, counter);
                self.cipher
                    .open_in_place(n, Aad::empty(), rest)
                    .ok()
                    .map(|p| p.len())
            })
            .flatten();
        match opened {
            Some(len) => Some(8..8 + len),
            None => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// How many datagrams failed authentication so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_datagrams_open_once_and_forgeries_are_dropped_and_counted() {
        let key = new_transfer_key();
        let sealer = Sealer::new(&key, Direction::ToAudience);
        let opener = Opener::new(&key, Direction::ToAudience);
        let a = sealer.seal(b"chunk one");
        let b = sealer.seal(b"chunk one");
        assert_ne!(a, b, "a fresh nonce per datagram");
        assert_eq!(a.len(), 9 + SEAL_OVERHEAD);
        assert_eq!(opener.open(&a).as_deref(), Some(&b"chunk one"[..]));

        let mut flipped = a.clone();
        flipped[10] ^= 1;
        let wrong_way = Opener::new(&key, Direction::ToPresenter);
        let stranger = Opener::new(&new_transfer_key(), Direction::ToAudience);
        assert_eq!(opener.open(&flipped), None);
        assert_eq!(opener.open(b"garbage"), None);
        assert_eq!(opener.open(&[]), None);
        assert_eq!(wrong_way.open(&a), None);
        assert_eq!(stranger.open(&a), None);
        assert_eq!(opener.dropped(), 3);
        assert_eq!(opener.open(&b).as_deref(), Some(&b"chunk one"[..]));
    }
}
