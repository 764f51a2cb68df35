//! The presenter side: [`send_file`] drives one outgoing transfer from
//! handshake to verified finish on the calling thread.
//!
//! Phases: START (token, size, name) retried with back-off until START_ACK;
//! then the data loop (drain acks without blocking, retransmit what the
//! window judges lost, send new chunks in bursts, block briefly only when the
//! window is full); then FIN carrying the whole-file hash, retried until the
//! receiver confirms it verified and renamed the file. Silence from the peer
//! for `PEER_TIMEOUT` in any phase ends the transfer with "peer not
//! responding" (sooner, "peer gone", if its port refuses our datagrams for
//! `REFUSED_GRACE`); any local failure sends a best-effort ABORT to the peer.

use std::fs::{File, Metadata};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use super::lossy::{LossConfig, LossySocket};
use super::sealed::Seals;
use super::send_window::SendWindow;
use super::wire::{self, Ack, Packet};
use super::{bind_udp, valid_file_name, TransferError, CHUNK, DATAGRAM, REFUSED_GRACE};
use crate::tls::TransferKey;

/// New chunks sent between two drains of the ack queue.
const BURST: usize = 32;
/// Call `progress` at most once per this many acknowledged bytes.
const PROGRESS_STEP: u64 = 1 << 20;

/// Send `path` to the receiver at `dest`, presenting `token`. Returns the
/// number of bytes once the receiver has verified the checksum and saved it.
pub fn send_file(
    dest: SocketAddr,
    token: &str,
    path: &Path,
    loss: &LossConfig,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64, TransferError> {
    send_file_sealed(dest, token, path, loss, None, progress)
}

/// [`send_file`], every datagram sealed with `key` when there is one (a transfer the
/// server keyed: BEHAVIOUR §8).
pub fn send_file_sealed(
    dest: SocketAddr,
    token: &str,
    path: &Path,
    loss: &LossConfig,
    key: Option<&TransferKey>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64, TransferError> {
    send(dest, token, path, loss, key, None, progress)
}

/// [`send_file_sealed`], the peer gone after `peer_timeout` of silence if given (tests).
pub(super) fn send(
    dest: SocketAddr,
    token: &str,
    path: &Path,
    loss: &LossConfig,
    key: Option<&TransferKey>,
    peer_timeout: Option<std::time::Duration>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64, TransferError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !valid_file_name(name) {
        return Err(TransferError::InvalidName(name.to_string()));
    }
    if token.is_empty() || token.len() > 255 {
        return Err(TransferError::PeerAborted("invalid token".into()));
    }
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let size = meta.len();
    let mut link = Link::open(dest, loss)?;
    link.sock.seals = key.map(Seals::presenter);
    if let Some(t) = peer_timeout {
        link.sock.peer_timeout = t;
    }
    let result = link.run(&mut file, &meta, token, name, progress);
    if let Err(e) = &result {
        link.abort(e);
    }
    result.map(|()| size)
}

/// What the sender cares about from an incoming datagram. `Ack` is large
/// (full-window SACK bitmap) but boxing it would allocate per ack.
#[allow(clippy::large_enum_variant)]
enum Event {
    StartAck(u32),
    Ack(Ack),
    FinAck,
    Abort(u8, String),
}

/// One outgoing transfer's socket, identity and scratch buffers.
struct Link {
    sock: LossySocket,
    dest: SocketAddr,
    sid: u32,
    clock: Instant,
    last_heard: Instant,
    ctl: Vec<u8>,
    out: Vec<u8>,
    rbuf: Vec<u8>,
    lost: Vec<u32>,
    handshake_rtt: u32,
    stats: Stats,
}

/// Counters logged at debug level when a transfer ends.
#[derive(Debug, Default)]
struct Stats {
    sent: u64,
    resent: u64,
    waits: u64,
    rtos: u64,
    acks: u64,
}

impl Link {
    fn open(dest: SocketAddr, loss: &LossConfig) -> Result<Link, TransferError> {
        let any: IpAddr = match dest {
            SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        let udp = bind_udp(SocketAddr::new(any, 0))?;
        udp.connect(dest)?;
        let sid = rand::random::<u32>();
        Ok(Link {
            sock: LossySocket::new(udp, true, *loss, 0x5E4D)?,
            dest,
            sid,
            clock: Instant::now(),
            last_heard: Instant::now(),
            ctl: Vec::with_capacity(600),
            out: vec![0; DATAGRAM],
            rbuf: vec![0; 2048],
            lost: Vec::new(),
            handshake_rtt: 0,
            stats: Stats::default(),
        })
    }

    fn run(
        &mut self,
        file: &mut File,
        meta: &Metadata,
        token: &str,
        name: &str,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(), TransferError> {
        let window = self.handshake(token, name, meta.len())?;
        let mut win = SendWindow::new(CHUNK, window, meta.len())?;
        win.rtt.sample(self.handshake_rtt);
        win.fill(file)?;
        let r = self.stream(&mut win, file, meta.len(), progress);
        log::debug!("send {name}: {:?} rto={}us", self.stats, win.rtt.rto);
        r?;
        super::check_unchanged(file, meta)?;
        self.finish(&win.hash(), win.rtt.rto)
    }

    fn now(&self) -> u32 {
        self.clock.elapsed().as_micros() as u32
    }

    /// Receive one datagram from the peer for this session, if any arrives
    /// (non-blocking when `wait` is `None`).
    fn poll(&mut self, wait: Option<Duration>) -> Result<Option<Event>, TransferError> {
        let got = match wait {
            None => self.sock.try_recv(&mut self.rbuf)?,
            Some(d) => self.sock.wait_recv(&mut self.rbuf, d)?,
        };
        let Some((n, from)) = got else {
            return Ok(None);
        };
        if from != self.dest {
            return Ok(None);
        }
        let ev = match wire::parse(&self.rbuf[..n]) {
            Some(Packet::StartAck { sid, window }) if sid == self.sid => Event::StartAck(window),
            Some(Packet::Ack(a)) if a.sid == self.sid => Event::Ack(a),
            Some(Packet::FinAck { sid }) if sid == self.sid => Event::FinAck,
            Some(Packet::Abort { sid, code, reason }) if sid == self.sid => {
                Event::Abort(code, reason.to_string())
            }
            _ => return Ok(None),
        };
        self.last_heard = Instant::now();
        Ok(Some(ev))
    }

    /// Fails once the peer has been silent too long, or its port has been refusing
    /// datagrams for a while with nothing heard from it since.
    fn check_peer(&self) -> Result<(), TransferError> {
        let quiet = self.last_heard.elapsed();
        if quiet > self.sock.peer_timeout {
            return Err(TransferError::PeerNotResponding);
        }
        let refused = self.sock.refused_since().map(|t| t.elapsed());
        if refused.is_some_and(|r| r > REFUSED_GRACE) && quiet > REFUSED_GRACE {
            return Err(TransferError::PeerGone);
        }
        Ok(())
    }

    /// Send START until acknowledged; returns the receiver's window.
    fn handshake(&mut self, token: &str, name: &str, size: u64) -> Result<u32, TransferError> {
        wire::start(&mut self.ctl, self.sid, size, CHUNK as u16, token, name);
        let mut rto = Duration::from_millis(200);
        loop {
            let sent = Instant::now();
            self.sock.send(&self.ctl, self.dest)?;
            while sent.elapsed() < rto {
                match self.poll(Some(rto.saturating_sub(sent.elapsed())))? {
                    Some(Event::StartAck(w)) => {
                        self.handshake_rtt = sent.elapsed().as_micros() as u32;
                        return Ok(w);
                    }
                    Some(Event::Abort(code, reason)) => return Err(abort_error(code, reason)),
                    _ => {}
                }
            }
            self.check_peer()?;
            rto = (rto * 2).min(Duration::from_secs(1));
        }
    }

    /// The data phase: returns once every chunk is acknowledged.
    fn stream(
        &mut self,
        win: &mut SendWindow,
        file: &mut File,
        size: u64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(), TransferError> {
        let mut reported = 0u64;
        loop {
            let news = self.drain(win, None)?;
            let acked = (win.cum as u64 * CHUNK as u64).min(size);
            if acked >= reported + PROGRESS_STEP || (win.done() && reported < size) {
                progress(acked, size);
                reported = acked.max(1);
            }
            if win.done() {
                return Ok(());
            }
            self.recover(win, news)?;
            let sent = self.send_new(win)?;
            win.fill(file)?;
            if sent == 0 {
                self.stats.waits += 1;
                let wait = self.until_rto(win);
                self.drain(win, Some(wait))?;
            }
            self.check_peer()?;
        }
    }

    /// Process queued acks (first waiting up to `wait`, if given). Returns
    /// true if anything new was acknowledged.
    fn drain(
        &mut self,
        win: &mut SendWindow,
        wait: Option<Duration>,
    ) -> Result<bool, TransferError> {
        let mut news = false;
        let mut next = self.poll(wait)?;
        while let Some(ev) = next {
            match ev {
                Event::Ack(a) => {
                    self.stats.acks += 1;
                    news |= win.on_ack(&a, self.now());
                }
                Event::Abort(code, reason) => return Err(abort_error(code, reason)),
                _ => {}
            }
            next = self.poll(None)?;
        }
        Ok(news)
    }

    /// Time until the oldest unacknowledged chunk's RTO fires.
    fn until_rto(&self, win: &SendWindow) -> Duration {
        let left = match win.oldest_sent() {
            Some(t) => (t.wrapping_add(win.rtt.rto).wrapping_sub(self.now()) as i32).max(0),
            None => 1000,
        };
        Duration::from_micros(left as u64)
            .clamp(Duration::from_micros(200), Duration::from_millis(50))
    }

    /// Retransmit holes judged lost (after new acks) and RTO-expired chunks.
    fn recover(&mut self, win: &mut SendWindow, news: bool) -> Result<(), TransferError> {
        let mut lost = std::mem::take(&mut self.lost);
        if news {
            win.lost(&mut lost);
            self.resend(win, &lost)?;
        }
        let now = self.now();
        if let Some(t) = win.oldest_sent() {
            if (now.wrapping_sub(t) as i32) > win.rtt.rto as i32 {
                win.timed_out(now, &mut lost);
                log::debug!("rto {}us: resending {}", win.rtt.rto, lost.len());
                self.resend(win, &lost)?;
                self.stats.rtos += 1;
                win.rtt.backoff();
            }
        }
        self.lost = lost;
        Ok(())
    }

    fn resend(&mut self, win: &mut SendWindow, seqs: &[u32]) -> Result<(), TransferError> {
        for &seq in seqs {
            self.stats.resent += 1;
            self.send_data(win, seq)?;
        }
        Ok(())
    }

    /// Send up to `BURST` never-sent chunks; returns how many.
    fn send_new(&mut self, win: &mut SendWindow) -> Result<usize, TransferError> {
        let mut n = 0;
        while n < BURST {
            let Some(seq) = win.next_new() else { break };
            self.send_data(win, seq)?;
            self.stats.sent += 1;
            n += 1;
        }
        Ok(n)
    }

    fn send_data(&mut self, win: &mut SendWindow, seq: u32) -> Result<(), TransferError> {
        let ts = self.now();
        let payload = win.payload(seq);
        let len = wire::DATA_HEADER + payload.len();
        self.out[wire::DATA_HEADER..len].copy_from_slice(payload);
        wire::data_header(&mut self.out, self.sid, seq, ts);
        self.sock.send(&self.out[..len], self.dest)?;
        win.mark_sent(seq, ts);
        Ok(())
    }

    /// Send FIN with the file hash until the receiver confirms the save.
    fn finish(&mut self, hash: &[u8; 32], rto_us: u32) -> Result<(), TransferError> {
        let mut fin = Vec::with_capacity(64);
        wire::fin(&mut fin, self.sid, hash);
        let mut rto = Duration::from_micros(rto_us as u64).max(Duration::from_millis(20));
        self.last_heard = Instant::now();
        loop {
            let sent = Instant::now();
            self.sock.send(&fin, self.dest)?;
            while sent.elapsed() < rto {
                match self.poll(Some(rto.saturating_sub(sent.elapsed())))? {
                    Some(Event::FinAck) => return Ok(()),
                    Some(Event::Abort(code, reason)) => return Err(abort_error(code, reason)),
                    _ => {}
                }
            }
            self.check_peer()?;
            rto = (rto * 2).min(Duration::from_secs(1));
        }
    }

    /// Best-effort notice to the peer that this transfer is over.
    fn abort(&mut self, e: &TransferError) {
        if matches!(
            e,
            TransferError::PeerAborted(_) | TransferError::ChecksumMismatch | TransferError::Busy
        ) {
            return;
        }
        wire::abort(&mut self.ctl, self.sid, wire::ABORT_SENDER, &e.to_string());
        for _ in 0..2 {
            let _ = self.sock.send(&self.ctl, self.dest);
        }
        let _ = self.sock.flush_held();
    }
}

fn abort_error(code: u8, reason: String) -> TransferError {
    match code {
        wire::ABORT_CHECKSUM => TransferError::ChecksumMismatch,
        wire::ABORT_BUSY => TransferError::Busy,
        _ => TransferError::PeerAborted(reason),
    }
}
