//! A worker's read side: lines off a ready socket, each stamped with its read's time,
//! through the login steps, then timed and counted.

use super::{now_us, Conn, Event, Loop};
use crate::login::{self, Proto, Step};
use crate::net::{parse_digits, trim};
use std::io;
use std::sync::atomic::Ordering;

impl Loop {
    /// Reads until the socket would block; every line of one read gets that read's time.
    pub(super) fn drain(&mut self, slot: usize) {
        loop {
            let Some(conn) = self.conns[slot].as_mut() else {
                return;
            };
            let n = match conn.sock.read(&mut self.buf) {
                Ok(0) => return self.failed(slot, "connection closed".into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.failed(slot, format!("read: {e}")),
            };
            let now = now_us();
            if let Err(e) = self.lines(slot, n, now) {
                return self.failed(slot, e);
            }
            if n < self.buf.len() {
                // A short read emptied the socket; more data raises a new edge.
                return;
            }
        }
    }

    /// Handles the complete lines in `buf[..n]` (after what was left from the last read).
    fn lines(&mut self, slot: usize, n: usize, now: u64) -> Result<(), String> {
        let mut conn = self.conns[slot].take().expect("live slot");
        let buf = std::mem::take(&mut self.buf);
        let mut rest = &buf[..n];
        let mut out = Ok(());
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let (head, tail) = rest.split_at(nl + 1);
            rest = tail;
            out = if conn.partial.is_empty() {
                self.line(&mut conn, trim(head), now)
            } else {
                let mut whole = std::mem::take(&mut conn.partial);
                whole.extend_from_slice(head);
                self.line(&mut conn, trim(&whole), now)
            };
            if out.is_err() {
                break;
            }
        }
        conn.partial.extend_from_slice(rest);
        self.buf = buf;
        self.conns[slot] = Some(conn);
        out
    }

    fn line(&mut self, conn: &mut Conn, line: &[u8], now: u64) -> Result<(), String> {
        if conn.step == Step::Ready {
            if let Some(sent) = self.stamp(line) {
                self.seen.hist.record(now.saturating_sub(sent));
                self.seen.last_us = now;
                self.shared.received.fetch_add(1, Ordering::Relaxed);
            } else if self.shared.proto == Proto::Irc && line.starts_with(b"PING") {
                login::pong(&conn.sock, line).map_err(|e| format!("pong: {e}"))?;
            }
            return Ok(());
        }
        let next = login::advance(self.shared.proto, conn.step, &conn.sock, line, conn.index)?;
        let next = match next {
            Step::Joined if !self.shared.join => Step::Ready,
            Step::Joined => login::join(&conn.sock)?,
            s => s,
        };
        conn.step = next;
        if next == Step::Ready {
            let _ = self.shared.events.send(Event::Welcomed {
                index: conn.index,
                sock: conn.sock.clone(),
                started_us: conn.started_us,
                welcomed_us: now,
                reconnects: conn.reconnects,
            });
            self.admit_next();
        }
        Ok(())
    }

    fn stamp(&self, line: &[u8]) -> Option<u64> {
        if self.shared.marker.is_empty() {
            return None;
        }
        let at = self.finder.find(line)? + self.shared.marker.len();
        parse_digits(&line[at..])
    }
}
