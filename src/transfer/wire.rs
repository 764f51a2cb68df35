//! Datagram layouts of the transfer protocol: pure encode/decode, no I/O.
//!
//! Kept separate so both endpoints share one definition of every byte and the
//! parsing of untrusted input is in one auditable place. All integers are
//! little-endian; every datagram starts with `MAGIC`, a type byte and the
//! sender-chosen session id (`sid`). Data datagrams are encoded in place into
//! a caller-owned buffer so the hot path never allocates.
//!
//! ```text
//! START     magic 1 sid size:u64 chunk:u16 tlen:u8 token nlen:u8 name
//! START_ACK magic 2 sid window:u32
//! DATA      magic 3 sid seq:u32 ts:u32 payload
//! ACK       magic 4 sid cum:u32 limit:u32 echo_ts:u32 slen:u16 sack:[u8; slen]
//! FIN       magic 5 sid hash:[u8; 32]
//! FIN_ACK   magic 6 sid
//! ABORT     magic 7 sid code:u8 rlen:u8 reason
//! ```

pub(crate) const MAGIC: u8 = 0xC7;
pub(crate) const DATA_HEADER: usize = 14;
/// Number of sequence numbers after `cum` covered by an ACK's SACK bitmap
/// (the whole window, so the sender never retransmits what has arrived).
pub(crate) const SACK_BITS: u32 = super::WINDOW as u32;
const SACK_BYTES: usize = super::WINDOW / 8;

/// ABORT codes.
pub(crate) const ABORT_REFUSED: u8 = 1;
pub(crate) const ABORT_CHECKSUM: u8 = 2;
pub(crate) const ABORT_IO: u8 = 3;
pub(crate) const ABORT_SHUTDOWN: u8 = 4;
pub(crate) const ABORT_TIMEOUT: u8 = 5;
pub(crate) const ABORT_SENDER: u8 = 6;
/// The audience already receives [`MAX_INCOMING`](super::MAX_INCOMING) uploads.
pub(crate) const ABORT_BUSY: u8 = 7;

/// A parsed datagram borrowing from the receive buffer. Kept unboxed (one
/// variant carries a 256-byte SACK bitmap) so parsing never allocates.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub(crate) enum Packet<'a> {
    Start {
        sid: u32,
        size: u64,
        chunk: u16,
        token: &'a str,
        name: &'a str,
    },
    StartAck {
        sid: u32,
        window: u32,
    },
    Data {
        sid: u32,
        seq: u32,
        ts: u32,
        payload: &'a [u8],
    },
    Ack(Ack),
    Fin {
        sid: u32,
        hash: [u8; 32],
    },
    FinAck {
        sid: u32,
    },
    Abort {
        sid: u32,
        code: u8,
        reason: &'a str,
    },
}

/// Cumulative + selective acknowledgement.
#[derive(Debug, PartialEq, Clone, Copy)]
pub(crate) struct Ack {
    pub sid: u32,
    /// Every seq below this has arrived.
    pub cum: u32,
    /// The sender may not send seq >= limit (receiver buffer space).
    pub limit: u32,
    /// Timestamp of the data datagram that triggered this ack.
    pub echo_ts: u32,
    /// Meaningful bytes of `sack` (the rest are zero).
    pub len: u16,
    /// Bit i set => seq `cum + 1 + i` has arrived.
    pub sack: [u8; SACK_BYTES],
}

impl Ack {
    pub fn new(sid: u32, cum: u32, limit: u32, echo_ts: u32) -> Ack {
        Ack {
            sid,
            cum,
            limit,
            echo_ts,
            len: 0,
            sack: [0; SACK_BYTES],
        }
    }

    /// Mark `cum + 1 + i` as received.
    pub fn set(&mut self, i: u32) {
        let byte = (i / 8) as usize;
        self.sack[byte] |= 1 << (i % 8);
        self.len = self.len.max(byte as u16 + 1);
    }

    /// Offsets i (seq = cum + 1 + i) of every set bit, in order.
    pub fn sacked(&self) -> impl Iterator<Item = u32> + '_ {
        self.sack[..self.len as usize]
            .iter()
            .enumerate()
            .filter(|(_, &b)| b != 0)
            .flat_map(|(i, &b)| {
                (0..8)
                    .filter(move |k| b & (1 << k) != 0)
                    .map(move |k| i as u32 * 8 + k)
            })
    }
}

/// Little cursor over untrusted bytes; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    }
    fn arr32(&mut self) -> Option<[u8; 32]> {
        self.take(32).map(|b| b.try_into().unwrap())
    }
    fn str8(&mut self) -> Option<&'a str> {
        let n = self.u8()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
}

/// Parse a datagram; `None` for anything malformed or foreign.
pub(crate) fn parse(buf: &[u8]) -> Option<Packet<'_>> {
    let mut r = Reader(buf);
    if r.u8()? != MAGIC {
        return None;
    }
    let kind = r.u8()?;
    let sid = r.u32()?;
    let pkt = match kind {
        1 => Packet::Start {
            sid,
            size: r.u64()?,
            chunk: r.u16()?,
            token: r.str8()?,
            name: r.str8()?,
        },
        2 => Packet::StartAck {
            sid,
            window: r.u32()?,
        },
        3 => Packet::Data {
            sid,
            seq: r.u32()?,
            ts: r.u32()?,
            payload: r.0,
        },
        4 => {
            let mut a = Ack::new(sid, r.u32()?, r.u32()?, r.u32()?);
            let len = r.u16()?;
            let bytes = r.take(len as usize).filter(|b| b.len() <= SACK_BYTES)?;
            a.sack[..bytes.len()].copy_from_slice(bytes);
            a.len = len;
            Packet::Ack(a)
        }
        5 => Packet::Fin {
            sid,
            hash: r.arr32()?,
        },
        6 => Packet::FinAck { sid },
        7 => Packet::Abort {
            sid,
            code: r.u8()?,
            reason: r.str8()?,
        },
        _ => return None,
    };
    Some(pkt)
}

fn header(out: &mut Vec<u8>, kind: u8, sid: u32) {
    out.clear();
    out.push(MAGIC);
    out.push(kind);
    out.extend_from_slice(&sid.to_le_bytes());
}

fn push_str8(out: &mut Vec<u8>, s: &str) {
    let b = &s.as_bytes()[..s.len().min(255)];
    out.push(b.len() as u8);
    out.extend_from_slice(b);
}

pub(crate) fn start(out: &mut Vec<u8>, sid: u32, size: u64, chunk: u16, token: &str, name: &str) {
    header(out, 1, sid);
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&chunk.to_le_bytes());
    push_str8(out, token);
    push_str8(out, name);
}

pub(crate) fn start_ack(out: &mut Vec<u8>, sid: u32, window: u32) {
    header(out, 2, sid);
    out.extend_from_slice(&window.to_le_bytes());
}

/// Write a DATA header into `buf[..DATA_HEADER]`; the payload follows it.
pub(crate) fn data_header(buf: &mut [u8], sid: u32, seq: u32, ts: u32) {
    buf[0] = MAGIC;
    buf[1] = 3;
    buf[2..6].copy_from_slice(&sid.to_le_bytes());
    buf[6..10].copy_from_slice(&seq.to_le_bytes());
    buf[10..14].copy_from_slice(&ts.to_le_bytes());
}

pub(crate) fn ack(out: &mut Vec<u8>, a: &Ack) {
    header(out, 4, a.sid);
    out.extend_from_slice(&a.cum.to_le_bytes());
    out.extend_from_slice(&a.limit.to_le_bytes());
    out.extend_from_slice(&a.echo_ts.to_le_bytes());
    out.extend_from_slice(&a.len.to_le_bytes());
    out.extend_from_slice(&a.sack[..a.len as usize]);
}

pub(crate) fn fin(out: &mut Vec<u8>, sid: u32, hash: &[u8; 32]) {
    header(out, 5, sid);
    out.extend_from_slice(hash);
}

pub(crate) fn fin_ack(out: &mut Vec<u8>, sid: u32) {
    header(out, 6, sid);
}

pub(crate) fn abort(out: &mut Vec<u8>, sid: u32, code: u8, reason: &str) {
    header(out, 7, sid);
    out.push(code);
    push_str8(out, reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_control_packets() {
        let mut b = Vec::new();
        start(&mut b, 9, 123, 1186, "tok", "a.txt");
        assert_eq!(
            parse(&b),
            Some(Packet::Start {
                sid: 9,
                size: 123,
                chunk: 1186,
                token: "tok",
                name: "a.txt"
            })
        );
        let mut a = Ack::new(1, 2, 3, 4);
        for i in [0, 5, 9, 2047] {
            a.set(i);
        }
        ack(&mut b, &a);
        assert_eq!(parse(&b), Some(Packet::Ack(a)));
        assert_eq!(a.sacked().collect::<Vec<_>>(), vec![0, 5, 9, 2047]);
        abort(&mut b, 7, ABORT_IO, "disk full");
        assert_eq!(
            parse(&b),
            Some(Packet::Abort {
                sid: 7,
                code: ABORT_IO,
                reason: "disk full"
            })
        );
        assert_eq!(parse(&b[..b.len() - 1]), None);
        assert_eq!(parse(&[0, 1, 2]), None);
    }
}
