//! Loss injection and the thin socket wrapper both endpoints send through.
//!
//! Every datagram either side sends goes through [`LossySocket::send`], so a
//! [`LossConfig`] (usually from `CHINWAG_UDP_LOSS`) can drop, duplicate or
//! reorder traffic deterministically (seeded xorshift) to exercise the
//! recovery paths. With the config off it is a plain `send`/`send_to`. It also
//! owns the "block briefly for the next datagram" helper, which toggles the
//! socket between non-blocking (draining) and blocking-with-timeout (idle).
//! A `rate` cap paces what one endpoint sends, so tests can keep a transfer
//! running long enough to act on it mid-way (kill the peer, type commands).

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Probabilities (0.0..=1.0) applied to every datagram sent. All zero = off.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LossConfig {
    pub drop: f64,
    pub duplicate: f64,
    /// Hold a datagram back and send it after the next one.
    pub reorder: f64,
    pub seed: u64,
}

impl LossConfig {
    /// Parse `CHINWAG_UDP_LOSS`, e.g. `drop=0.05,dup=0.01,reorder=0.05,seed=7`
    /// (and `rate=2` for at most 2 MB/s). Unset or unparsable parts are off.
    pub fn from_env() -> LossConfig {
        std::env::var("CHINWAG_UDP_LOSS")
            .map(|s| LossConfig::parse(&s))
            .unwrap_or_default()
    }

    /// Parse the `key=value,...` syntax of `CHINWAG_UDP_LOSS`.
    pub fn parse(spec: &str) -> LossConfig {
        let mut cfg = LossConfig::default();
        for part in spec.split(',') {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            let p = v.parse::<f64>().unwrap_or(0.0).clamp(0.0, 1.0);
            match k {
                "drop" => cfg.drop = p,
                "dup" | "duplicate" => cfg.duplicate = p,
                "reorder" => cfg.reorder = p,
                "seed" => cfg.seed = v.parse().unwrap_or(0),
                "rate" | "timeout" => {} // see `rate_from_env`, `peer_timeout_from_env`
                _ => log::warn!("CHINWAG_UDP_LOSS: unknown key {k:?}"),
            }
        }
        cfg
    }

    /// The `rate=MB_PER_S` part of `CHINWAG_UDP_LOSS`: most MB (10^6 bytes)
    /// per second one endpoint sends; 0 = unlimited. Kept out of the struct so
    /// its literal stays as callers know it.
    pub fn rate_from_env() -> f64 {
        std::env::var("CHINWAG_UDP_LOSS")
            .map(|s| rate_of(&s))
            .unwrap_or(0.0)
    }

    /// The `timeout=SECS` part of `CHINWAG_UDP_LOSS` (fractions allowed; for tests):
    /// the silence after which the peer is gone, else `PEER_TIMEOUT` (5 s). Kept out of
    /// the struct, as `rate` is.
    pub fn peer_timeout_from_env() -> Duration {
        std::env::var("CHINWAG_UDP_LOSS")
            .ok()
            .and_then(|s| timeout_of(&s))
            .unwrap_or(super::PEER_TIMEOUT)
    }

    /// True when no datagram will ever be altered (pacing aside).
    pub fn is_off(&self) -> bool {
        self.drop <= 0.0 && self.duplicate <= 0.0 && self.reorder <= 0.0
    }
}

fn timeout_of(spec: &str) -> Option<Duration> {
    spec.split(',')
        .filter_map(|part| part.split_once('='))
        .filter(|(k, _)| k.trim() == "timeout")
        .find_map(|(_, v)| Duration::try_from_secs_f64(v.trim().parse().ok()?).ok())
}

fn rate_of(spec: &str) -> f64 {
    spec.split(',')
        .filter_map(|part| part.split_once('='))
        .filter(|(k, _)| k.trim() == "rate")
        .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
        .fold(0.0, |_, r| r.max(0.0))
}

/// A UDP socket plus loss injection. `connected` sockets use `send`.
pub(crate) struct LossySocket {
    pub sock: UdpSocket,
    connected: bool,
    cfg: LossConfig,
    rng: StdRng,
    held: Vec<u8>,
    held_to: Option<SocketAddr>,
    nonblocking: bool,
    /// The read timeout last set (saves a syscall per wait when it repeats).
    timeout: Option<Duration>,
    refused_since: Option<Instant>,
    /// Pacing cap in bytes per second (0 = none) and when the next datagram
    /// may leave.
    rate: f64,
    next_at: Option<Instant>,
    /// Silence after which the peer is declared gone.
    pub peer_timeout: Duration,
    /// A sealed transfer's keys (see `sealed`); `None` for a plain one.
    pub seals: Option<super::sealed::Seals>,
}

impl LossySocket {
    /// Wrap `sock` (switched to non-blocking mode). `salt` varies the dice
    /// stream per endpoint so both sides don't drop in lock-step.
    pub fn new(sock: UdpSocket, connected: bool, cfg: LossConfig, salt: u64) -> io::Result<Self> {
        sock.set_nonblocking(true)?;
        Ok(LossySocket {
            sock,
            connected,
            cfg,
            rng: StdRng::seed_from_u64(cfg.seed ^ salt),
            held: Vec::with_capacity(super::DATAGRAM),
            held_to: None,
            nonblocking: true,
            timeout: None,
            refused_since: None,
            rate: LossConfig::rate_from_env() * 1e6,
            next_at: None,
            peer_timeout: LossConfig::peer_timeout_from_env(),
            seals: None,
        })
    }

    /// Send one datagram, subject to loss injection. Errors that just mean
    /// "this datagram is lost" (full buffer, ICMP refusal) are swallowed: the
    /// protocol recovers from loss anyway.
    pub fn send(&mut self, buf: &[u8], to: SocketAddr) -> io::Result<()> {
        let mut seals = self.seals.take();
        let sealed = seals.as_mut().and_then(|s| s.seal(buf, to));
        let res = self.send_sealed(sealed.unwrap_or(buf), to);
        self.seals = seals;
        res
    }

    fn send_sealed(&mut self, buf: &[u8], to: SocketAddr) -> io::Result<()> {
        if self.cfg.is_off() {
            return self.raw(buf, to);
        }
        if self.rng.random::<f64>() < self.cfg.drop {
            return Ok(());
        }
        if self.held_to.is_none() && self.rng.random::<f64>() < self.cfg.reorder {
            self.held.clear();
            self.held.extend_from_slice(buf);
            self.held_to = Some(to);
            return Ok(());
        }
        self.raw(buf, to)?;
        if self.rng.random::<f64>() < self.cfg.duplicate {
            self.raw(buf, to)?;
        }
        self.flush_held()
    }

    /// Send a datagram held back for reordering, if any.
    pub fn flush_held(&mut self) -> io::Result<()> {
        match self.held_to.take() {
            Some(to) => {
                let held = std::mem::take(&mut self.held);
                let r = self.raw(&held, to);
                self.held = held;
                r
            }
            None => Ok(()),
        }
    }

    fn raw(&mut self, buf: &[u8], to: SocketAddr) -> io::Result<()> {
        self.pace(buf.len());
        let r = if self.connected {
            self.sock.send(buf)
        } else {
            self.sock.send_to(buf, to)
        };
        match r {
            Ok(_) => Ok(()),
            Err(e) => self.transient(e),
        }
    }

    /// With a `rate` cap, sleep until this datagram may leave (no credit is
    /// saved up while idle, so there are no bursts).
    fn pace(&mut self, len: usize) {
        if self.rate <= 0.0 {
            return;
        }
        let now = Instant::now();
        let at = self.next_at.map_or(now, |t| t.max(now));
        if at > now + Duration::from_millis(1) {
            std::thread::sleep(at - now);
        }
        self.next_at = Some(at + Duration::from_secs_f64(len as f64 / self.rate));
    }

    /// Non-blocking receive: `Ok(None)` when nothing is queued.
    pub fn try_recv(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        self.set_mode(true)?;
        self.recv_inner(buf)
    }

    /// Wait up to `timeout` for one datagram: `Ok(None)` on timeout. Any
    /// held-back datagram is released first so it cannot stall the peer.
    pub fn wait_recv(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<Option<(usize, SocketAddr)>> {
        self.flush_held()?;
        self.set_mode(false)?;
        let timeout = timeout.max(Duration::from_micros(100));
        if self.timeout != Some(timeout) {
            self.sock.set_read_timeout(Some(timeout))?;
            self.timeout = Some(timeout);
        }
        self.recv_inner(buf)
    }

    fn recv_inner(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        loop {
            match self.sock.recv_from(buf) {
                Ok((n, from)) => {
                    self.refused_since = None;
                    let Some(seals) = self.seals.as_mut() else {
                        return Ok(Some((n, from)));
                    };
                    if let Some(n) = seals.open(buf, n, from) {
                        return Ok(Some((n, from)));
                    } // dropped: the next one
                }
                Err(e) => return self.transient(e).map(|()| None),
            }
        }
    }

    /// `Ok` for an error that only means "nothing now" or "this datagram got lost",
    /// noting when the peer's port started refusing (a connected socket reports the
    /// ICMP port-unreachable of an earlier datagram as `ConnectionRefused`).
    fn transient(&mut self, e: io::Error) -> io::Result<()> {
        if !is_transient(&e) {
            return Err(e);
        }
        if e.kind() == io::ErrorKind::ConnectionRefused && self.refused_since.is_none() {
            self.refused_since = Some(Instant::now());
        }
        Ok(())
    }

    /// Since when the peer's port has been refusing datagrams with nothing received
    /// from it since (connected sockets only).
    pub fn refused_since(&self) -> Option<Instant> {
        self.refused_since
    }

    fn set_mode(&mut self, nonblocking: bool) -> io::Result<()> {
        if self.nonblocking != nonblocking {
            self.sock.set_nonblocking(nonblocking)?;
            self.nonblocking = nonblocking;
        }
        Ok(())
    }
}

/// Errors that only mean "nothing now" or "this datagram got lost".
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_env_syntax() {
        let c = LossConfig::parse("drop=0.05,dup=0.01,reorder=0.05,seed=7");
        assert_eq!(
            c,
            LossConfig {
                drop: 0.05,
                duplicate: 0.01,
                reorder: 0.05,
                seed: 7
            }
        );
        assert_eq!(
            timeout_of("drop=0.1,timeout=0.5"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(timeout_of("drop=0.1"), None);
        assert!(LossConfig::parse("timeout=0.5").is_off());
        assert_eq!(rate_of("drop=0.1,rate=2.5"), 2.5);
        assert_eq!(rate_of("drop=0.1"), 0.0);
        assert!(LossConfig::parse("rate=2.5").is_off());
        assert!(LossConfig::parse("").is_off());
        assert!(LossConfig::default().is_off());
    }
}
