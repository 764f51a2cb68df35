//! Broadcast traffic: `fanout` (a paced rate, latency under load) and `blast` (maximum
//! deliveries per second, open loop or with a bounded number of messages in flight). Also
//! the pacing, draining and reporting that every delivery scenario shares.

use super::{check_alive, note_failures, Ctx, Meter};
use crate::clients::{now_us, Crowd, Link};
use crate::driver::Seen;
use crate::login::{Proto, CHANNEL};
use crate::procs::Kind;
use crate::report::Row;
use crate::stats::{per_sec, Latency};
use chinwag::protocol::Command;
use std::thread;
use std::time::{Duration, Instant};

/// Longest wait for deliveries after the last send, and longest stall without any.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
const STALL: Duration = Duration::from_secs(3);

/// Sends `total` messages at `rate` per second, taking turns over `links`; `send` makes
/// message k with its stamp. Returns (sent, first send µs).
pub fn pace(
    links: &mut [Link],
    rate: f64,
    total: usize,
    mut send: impl FnMut(&mut Link, usize, u64) -> std::io::Result<()>,
) -> (u64, u64) {
    let t0 = Instant::now();
    let (mut sent, mut first) = (0, 0);
    for k in 0..total {
        let due = t0 + Duration::from_secs_f64(k as f64 / rate);
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        let n = links.len();
        let ts = now_us();
        if send(&mut links[k % n], k, ts).is_ok() {
            if sent == 0 {
                first = ts;
            }
            sent += 1;
        }
    }
    (sent, first)
}

/// Waits until `crowd` has received `expected` timed lines, nothing arrives for
/// [`STALL`], or [`DRAIN_TIMEOUT`] passes.
pub fn drain(crowd: &Crowd, expected: u64) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let (mut seen, mut moved) = (crowd.received(), Instant::now());
    while seen < expected && Instant::now() < deadline && moved.elapsed() < STALL {
        thread::sleep(Duration::from_millis(5));
        let now = crowd.received();
        if now != seen {
            (seen, moved) = (now, Instant::now());
        }
    }
}

/// Latency and throughput (first send to last receipt) of what a crowd timed.
pub fn gather(seen: &Seen, first_send: u64) -> (Latency, u64, f64) {
    let delivered = seen.hist.count();
    let secs = seen.last_us.saturating_sub(first_send) as f64 / 1e6;
    (seen.hist.latency(), delivered, per_sec(delivered, secs))
}

/// The columns every delivery scenario reports: counts, rate, then latency.
pub fn put_deliveries(
    row: &mut Row,
    sent: u64,
    expected: u64,
    delivered: u64,
    per_s: f64,
    l: &Latency,
) {
    row.put("sent", sent as f64)
        .put("delivered", delivered as f64)
        .put("lost", expected.saturating_sub(delivered) as f64)
        .put("deliveries_per_s", per_s)
        .put("p50_ms", l.p50_ms)
        .put("p90_ms", l.p90_ms)
        .put("p99_ms", l.p99_ms)
        .put("max_ms", l.max_ms)
        .put("mean_ms", l.mean_ms);
}

pub fn broadcast_line(link: &mut Link, text: String) -> std::io::Result<()> {
    match link.proto {
        Proto::Chinwag => link.request(Command::Broadcast { text }),
        Proto::Irc => link.irc(&format!("PRIVMSG {CHANNEL} :{text}")),
    }
}

/// `n` receivers and `senders` senders logged in (and joined) on a fresh server.
fn audience(
    ctx: &Ctx,
    kind: Kind,
    n: usize,
    senders: usize,
    notes: &mut Vec<String>,
) -> Result<(crate::procs::Server, Crowd, Crowd), String> {
    let server = ctx.start(kind, n + senders, n + senders)?;
    let receivers = Crowd::start(&ctx.plan(&server, "ts=", true), 0, n, ctx.login_timeout)?;
    note_failures(kind, &receivers, notes);
    let sending = Crowd::start(&ctx.plan(&server, "", true), n, senders, ctx.login_timeout)?;
    note_failures(kind, &sending, notes);
    if sending.is_empty() || receivers.is_empty() {
        return Err(format!("{}: the crowd could not log in", kind.name()));
    }
    // Let the presence notices and JOINs of the logins drain before measuring.
    thread::sleep(Duration::from_secs(1));
    Ok((server, receivers, sending))
}

pub fn fanout(
    ctx: &Ctx,
    kind: Kind,
    n: usize,
    rate: f64,
    secs: f64,
    senders: usize,
    notes: &mut Vec<String>,
) -> Result<Row, String> {
    eprintln!(
        "fanout: {} with {n} clients, {rate}/s for {secs} s...",
        kind.name()
    );
    let (mut server, receivers, mut sending) = audience(ctx, kind, n, senders, notes)?;
    let meter = Meter::start(&server);
    let total = (rate * secs).round() as usize;
    let (sent, first) = pace(&mut sending.links, rate, total, |l, k, ts| {
        broadcast_line(l, format!("ts={ts} #{k}"))
    });
    let expected = sent * receivers.len() as u64;
    drain(&receivers, expected);
    let mut row = Row::new(kind.name());
    meter.put(&mut row);
    check_alive(&mut server, notes);
    let (logged_in, reconnects) = (receivers.len(), receivers.retries);
    let seen = receivers.stop();
    sending.stop();
    let (lat, delivered, per_s) = gather(&seen, first);
    row.put("clients", logged_in as f64)
        .put("reconnects", reconnects as f64);
    put_deliveries(&mut row, sent, expected, delivered, per_s, &lat);
    Ok(row)
}

pub fn blast(
    ctx: &Ctx,
    kind: Kind,
    n: usize,
    messages: usize,
    in_flight: usize,
    notes: &mut Vec<String>,
) -> Result<Row, String> {
    eprintln!(
        "blast: {} with {n} clients, {messages} messages, in flight {in_flight}...",
        kind.name()
    );
    let (mut server, receivers, mut sending) = audience(ctx, kind, n, 1, notes)?;
    let audience_n = receivers.len() as u64;
    let meter = Meter::start(&server);
    let link = &mut sending.links[0];
    let (mut sent, mut first) = (0u64, 0u64);
    for k in 0..messages {
        if in_flight > 0 && !wait_in_flight(&receivers, sent, audience_n, in_flight as u64) {
            break;
        }
        let ts = now_us();
        if broadcast_line(link, format!("ts={ts} #{k}")).is_err() {
            break;
        }
        if sent == 0 {
            first = ts;
        }
        sent += 1;
    }
    let expected = sent * audience_n;
    drain(&receivers, expected);
    let mut row = Row::new(kind.name());
    meter.put(&mut row);
    check_alive(&mut server, notes);
    let seen = receivers.stop();
    sending.stop();
    let (lat, delivered, per_s) = gather(&seen, first);
    row.put("clients", audience_n as f64)
        .put("in_flight", in_flight as f64);
    put_deliveries(&mut row, sent, expected, delivered, per_s, &lat);
    Ok(row)
}

/// Waits until fewer than `max` messages are in flight: sent, less the deliveries so far
/// divided by the audience. False if deliveries stall for [`STALL`].
fn wait_in_flight(receivers: &Crowd, sent: u64, audience: u64, max: u64) -> bool {
    let mut since = None;
    loop {
        let done = receivers.received() / audience.max(1);
        if sent.saturating_sub(done) < max {
            return true;
        }
        let t = *since.get_or_insert_with(Instant::now);
        if t.elapsed() > STALL {
            return false;
        }
        thread::sleep(Duration::from_micros(20));
    }
}
