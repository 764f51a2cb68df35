//! Sender-side sliding window: ring buffer, acknowledgement state, RTT/RTO
//! estimation (RFC 6298) and loss detection (RACK-style time ordering).
//!
//! The file is streamed into a fixed ring of `WINDOW` chunks (read in large
//! blocks and hashed as read), so memory is bounded regardless of file size.
//! Acks update per-slot state; a chunk is judged lost when something sent
//! sufficiently later than it has been delivered, or when its RTO expires.
//! No I/O on the network happens here: the sender loop asks this struct what
//! to (re)send and feeds it what arrived.

use std::fs::File;
use std::io::{self, Read};

use super::wire::Ack;
use super::TransferError;

/// Chunks read from disk per read call.
const READ_BLOCK: usize = 64;
const MIN_RTO_US: u32 = 5_000;
const MAX_RTO_US: u32 = 1_000_000;
const INITIAL_RTO_US: u32 = 200_000;

/// Smoothed RTT estimator per RFC 6298 (microseconds).
pub(crate) struct Rtt {
    srtt: f64,
    rttvar: f64,
    pub rto: u32,
    sampled: bool,
}

impl Rtt {
    pub fn new() -> Rtt {
        Rtt {
            srtt: 0.0,
            rttvar: 0.0,
            rto: INITIAL_RTO_US,
            sampled: false,
        }
    }

    pub fn sample(&mut self, rtt_us: u32) {
        let r = rtt_us as f64;
        if self.sampled {
            self.rttvar = 0.75 * self.rttvar + 0.25 * (self.srtt - r).abs();
            self.srtt = 0.875 * self.srtt + 0.125 * r;
        } else {
            self.srtt = r;
            self.rttvar = r / 2.0;
            self.sampled = true;
        }
        let rto = self.srtt + (4.0 * self.rttvar).max(1000.0);
        self.rto = (rto as u32).clamp(MIN_RTO_US, MAX_RTO_US);
    }

    /// Exponential back-off after a timeout.
    pub fn backoff(&mut self) {
        self.rto = (self.rto.saturating_mul(2)).min(MAX_RTO_US);
    }

    /// Reordering tolerance before a hole counts as lost.
    pub fn reorder_window(&self) -> u32 {
        ((self.srtt / 4.0) as u32).clamp(500, 5_000)
    }
}

/// The window of in-flight chunks of one outgoing file.
pub(crate) struct SendWindow {
    chunk: usize,
    cap: u32,
    size: u64,
    pub total: u32,
    buf: Vec<u8>,
    sent_at: Vec<u32>,
    acked: Vec<bool>,
    /// All seq < cum are acknowledged.
    pub cum: u32,
    /// Next never-sent seq.
    pub next: u32,
    /// Chunks loaded into the ring (seq < loaded).
    loaded: u32,
    /// One past the highest acknowledged seq.
    high_acked: u32,
    /// Send time of the most recently sent chunk known delivered.
    delivered_ts: Option<u32>,
    /// Receiver's buffer limit (exclusive seq).
    limit: u32,
    pub rtt: Rtt,
    hasher: blake3::Hasher,
}

/// `a` happened before `b` on the wrapping microsecond clock.
fn before(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) > 0
}

impl SendWindow {
    pub fn new(chunk: usize, window: u32, size: u64) -> Result<SendWindow, TransferError> {
        let total = size.div_ceil(chunk as u64);
        let total = u32::try_from(total).map_err(|_| TransferError::TooLarge)?;
        let cap = window.clamp(READ_BLOCK as u32, super::WINDOW as u32);
        Ok(SendWindow {
            chunk,
            cap,
            size,
            total,
            buf: vec![0; cap as usize * chunk],
            sent_at: vec![0; cap as usize],
            acked: vec![false; cap as usize],
            cum: 0,
            next: 0,
            loaded: 0,
            high_acked: 0,
            delivered_ts: None,
            limit: cap,
            rtt: Rtt::new(),
            hasher: blake3::Hasher::new(),
        })
    }

    fn slot(&self, seq: u32) -> usize {
        (seq % self.cap) as usize
    }

    /// Payload bytes of `seq`.
    pub fn payload(&self, seq: u32) -> &[u8] {
        let start = seq as u64 * self.chunk as u64;
        let len = (self.size - start).min(self.chunk as u64) as usize;
        let off = self.slot(seq) * self.chunk;
        &self.buf[off..off + len]
    }

    /// Read more of the file into free ring slots (hashing it as read).
    pub fn fill(&mut self, file: &mut File) -> Result<(), TransferError> {
        while self.loaded < self.total && self.loaded - self.cum + READ_BLOCK as u32 <= self.cap {
            let slot = self.slot(self.loaded);
            let n = (READ_BLOCK as u32)
                .min(self.cap - slot as u32)
                .min(self.total - self.loaded);
            let start = self.loaded as u64 * self.chunk as u64;
            let end = ((self.loaded + n) as u64 * self.chunk as u64).min(self.size);
            let off = slot * self.chunk;
            let dst = &mut self.buf[off..off + (end - start) as usize];
            file.read_exact(dst).map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => TransferError::FileChanged,
                _ => TransferError::Io(e),
            })?;
            self.hasher.update(dst);
            self.loaded += n;
        }
        Ok(())
    }

    /// Whole-file hash; valid once everything has been loaded.
    pub fn hash(&self) -> [u8; 32] {
        *self.hasher.finalize().as_bytes()
    }

    /// Next new seq that may be sent now, if window, limit and ring allow.
    pub fn next_new(&self) -> Option<u32> {
        let ok =
            self.next < self.loaded && self.next < self.limit && self.next < self.cum + self.cap;
        ok.then_some(self.next)
    }

    /// Record that `seq` was (re)transmitted at `ts`.
    pub fn mark_sent(&mut self, seq: u32, ts: u32) {
        let s = self.slot(seq);
        self.sent_at[s] = ts;
        if seq == self.next {
            self.acked[s] = false;
            self.next += 1;
        }
    }

    pub fn done(&self) -> bool {
        self.cum >= self.total
    }

    /// Apply an ACK. Returns true if it acknowledged anything new.
    pub fn on_ack(&mut self, a: &Ack, now: u32) -> bool {
        if a.cum > self.next {
            return false; // acks data never sent: bogus
        }
        self.rtt.sample(now.wrapping_sub(a.echo_ts));
        self.limit = self.limit.max(a.limit);
        let mut news = false;
        while self.cum < a.cum {
            news |= self.deliver(self.cum);
            self.cum += 1;
        }
        if a.cum > self.high_acked {
            self.high_acked = a.cum;
        }
        for i in a.sacked() {
            let seq = a.cum + 1 + i;
            if seq >= self.next {
                break;
            }
            news |= self.deliver(seq);
            self.high_acked = self.high_acked.max(seq + 1);
        }
        self.advance_cum();
        news
    }

    /// Mark `seq` delivered; true if it was not already.
    fn deliver(&mut self, seq: u32) -> bool {
        let s = self.slot(seq);
        if seq < self.cum || self.acked[s] {
            return false;
        }
        self.acked[s] = true;
        let sent = self.sent_at[s];
        match self.delivered_ts {
            Some(d) if !before(d, sent) => {}
            _ => self.delivered_ts = Some(sent),
        }
        true
    }

    fn advance_cum(&mut self) {
        while self.cum < self.next && self.acked[self.slot(self.cum)] {
            self.cum += 1;
        }
    }

    /// Holes judged lost by time ordering (RACK): sent more than the reorder
    /// window before a chunk that has since been delivered.
    pub fn lost(&self, out: &mut Vec<u32>) {
        out.clear();
        let Some(delivered) = self.delivered_ts else {
            return;
        };
        let horizon = delivered.wrapping_sub(self.rtt.reorder_window());
        for seq in self.cum..self.high_acked.min(self.next) {
            let s = self.slot(seq);
            if !self.acked[s] && before(self.sent_at[s], horizon) {
                out.push(seq);
            }
        }
    }

    /// On RTO: the oldest unacknowledged chunk, plus known holes (below the
    /// highest SACKed chunk) whose last transmission is older than the RTO.
    /// Chunks beyond the highest SACK may simply be in flight, so they are
    /// left to RACK once the retransmission is acknowledged.
    pub fn timed_out(&self, now: u32, out: &mut Vec<u32>) {
        out.clear();
        if self.cum < self.next {
            out.push(self.cum);
        }
        let horizon = now.wrapping_sub(self.rtt.rto);
        for seq in self.cum + 1..self.high_acked.min(self.next) {
            let s = self.slot(seq);
            if !self.acked[s] && before(self.sent_at[s], horizon) {
                out.push(seq);
            }
        }
    }

    /// Send time of the oldest unacknowledged chunk.
    pub fn oldest_sent(&self) -> Option<u32> {
        (self.cum < self.next).then(|| self.sent_at[self.slot(self.cum)])
    }
}
