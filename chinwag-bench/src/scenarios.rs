//! The scenarios: each starts its server(s), drives them with a crowd of clients and
//! returns an [`Outcome`] with one row per server.

use crate::clients::{now_us, Crowd, Link, Plan, Report, CHANNEL};
use crate::procs::{cpu_secs, user_name, Kind, Server};
use crate::report::{Machine, Outcome, Row};
use crate::stats::{per_sec, Latency};
use crate::udp;
use crate::{Against, Scenario};
use chinwag::protocol::Command;
use chinwag::transfer::LossConfig;
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// What every scenario needs to start servers.
pub struct Ctx {
    pub exe: PathBuf,
    pub ngircd: Option<PathBuf>,
    pub against: Against,
}

/// Longest wait for a crowd to log in.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest wait for deliveries after the last send.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

impl Ctx {
    /// The servers to measure: IRC only where the scenario has it and ngircd exists.
    fn kinds(&self, irc_too: bool, notes: &mut Vec<String>) -> Vec<Kind> {
        let mut kinds = Vec::new();
        if self.against != Against::Irc {
            kinds.push(Kind::Chinwag);
        }
        if irc_too && self.against != Against::Chinwag {
            if self.ngircd.is_some() {
                kinds.push(Kind::Irc);
            } else {
                let n =
                    "ngircd not found (apt-get install ngircd, or set NGIRCD): IRC side skipped";
                eprintln!("{n}");
                notes.push(n.into());
            }
        }
        kinds
    }

    fn start(&self, kind: Kind, clients: usize, users: usize) -> Result<Server, String> {
        match kind {
            Kind::Chinwag => Server::chinwag(&self.exe, clients + 64, users),
            Kind::Irc => Server::ngircd(self.ngircd.as_deref().expect("checked in kinds")),
        }
    }
}

/// Clients logging in at once while a scenario sets up its crowd (not in `logins`).
const RAMP: usize = 16;

fn plan(server: &Server, marker: &'static str, join: bool) -> Plan {
    Plan {
        kind: server.kind,
        addr: server.addr,
        marker,
        join,
        received: Arc::new(AtomicU64::new(0)),
        ramp: RAMP,
    }
}

/// Runs one scenario against the servers it applies to.
pub fn run(ctx: &Ctx, scenario: &Scenario) -> Result<Outcome, String> {
    let machine = Machine::now();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let mut notes = Vec::new();
    let (label, params, headline, rows): (String, _, Vec<&str>, Vec<Row>) = match *scenario {
        Scenario::Logins { clients, signup } => {
            let mut rows = Vec::new();
            for kind in ctx.kinds(true, &mut notes) {
                rows.push(logins(ctx, kind, clients, signup, &mut notes)?);
            }
            (
                format!("logins, {clients} clients at once"),
                json!({"clients": clients, "signup": signup}),
                vec![
                    "logins_per_s",
                    "all_welcomed_s",
                    "login_p99_ms",
                    "server_cpu_s",
                ],
                rows,
            )
        }
        Scenario::Fanout {
            clients,
            rate,
            secs,
            senders,
        } => {
            let mut rows = Vec::new();
            for kind in ctx.kinds(true, &mut notes) {
                rows.push(fanout(
                    ctx,
                    kind,
                    clients,
                    rate,
                    secs,
                    senders.max(1),
                    &mut notes,
                )?);
            }
            (
                format!("fanout, {clients} clients, {rate}/s for {secs} s"),
                json!({"clients": clients, "rate": rate, "secs": secs, "senders": senders}),
                vec![
                    "deliveries_per_s",
                    "p50_ms",
                    "p90_ms",
                    "p99_ms",
                    "max_ms",
                    "lost",
                    "server_cpu_s",
                ],
                rows,
            )
        }
        Scenario::Dm {
            pairs,
            rate,
            secs,
            background,
            bg_rate,
        } => {
            let mut rows = Vec::new();
            for kind in ctx.kinds(false, &mut notes) {
                rows.push(dm(
                    ctx, kind, pairs, rate, secs, background, bg_rate, &mut notes,
                )?);
            }
            (
                format!("dm, {pairs} pairs under {bg_rate}/s broadcasts to {background}"),
                json!({"pairs": pairs, "rate": rate, "secs": secs, "background": background, "bg_rate": bg_rate}),
                vec!["p50_ms", "p99_ms", "max_ms"],
                rows,
            )
        }
        Scenario::Room {
            members,
            rate,
            secs,
        } => {
            let mut rows = Vec::new();
            for kind in ctx.kinds(false, &mut notes) {
                rows.push(room(ctx, kind, members, rate, secs, &mut notes)?);
            }
            (
                format!("room, {members} members, SRM {rate}/s"),
                json!({"members": members, "rate": rate, "secs": secs}),
                vec!["deliveries_per_s", "p50_ms", "p99_ms", "max_ms"],
                rows,
            )
        }
        Scenario::Idle { clients, settle } => {
            let mut rows = Vec::new();
            for kind in ctx.kinds(true, &mut notes) {
                rows.push(idle(ctx, kind, clients, settle, &mut notes)?);
            }
            (
                format!("idle, {clients} clients"),
                json!({"clients": clients, "settle": settle}),
                vec!["logged_in", "kib_per_client", "rss_mib", "threads", "fds"],
                rows,
            )
        }
        Scenario::Udp { size_mb } => (
            format!("udp, {size_mb} MB"),
            json!({"size_mb": size_mb}),
            vec!["mb_per_s"],
            udp(size_mb)?,
        ),
        Scenario::Report { .. } => unreachable!("handled by the caller"),
    };
    Ok(Outcome {
        scenario: scenario.name().to_string(),
        label,
        params,
        date,
        machine,
        rows,
        headline: headline.into_iter().map(String::from).collect(),
        notes,
    })
}

fn note_failures(kind: Kind, crowd: &Crowd, notes: &mut Vec<String>) {
    if let Some(first) = crowd.failures.first() {
        let n = format!(
            "{}: {} clients failed to log in (first: {first})",
            kind.name(),
            crowd.failures.len()
        );
        eprintln!("{n}");
        notes.push(n);
    }
}

fn check_alive(server: &mut Server, notes: &mut Vec<String>) {
    if let Some(status) = server.exited() {
        let n = format!("{} died during the run: {status}", server.kind.name());
        eprintln!("{n}");
        notes.push(n);
    }
}

fn logins(
    ctx: &Ctx,
    kind: Kind,
    n: usize,
    signup: bool,
    notes: &mut Vec<String>,
) -> Result<Row, String> {
    eprintln!("logins: {} with {n} clients...", kind.name());
    let mut server = ctx.start(kind, n, if signup { 0 } else { n })?;
    let cpu0 = cpu_secs(server.pid());
    let at_once = Plan {
        ramp: 0,
        ..plan(&server, "", false)
    };
    let crowd = Crowd::start(&at_once, 0, n, LOGIN_TIMEOUT)?;
    let cpu = cpu_secs(server.pid()) - cpu0;
    note_failures(kind, &crowd, notes);
    let last = crowd
        .welcomed_us
        .iter()
        .copied()
        .max()
        .unwrap_or(crowd.go_us);
    let all_s = last.saturating_sub(crowd.go_us) as f64 / 1e6;
    let mut each: Vec<u32> = crowd
        .login_us
        .iter()
        .map(|&w| w.min(u32::MAX as u64) as u32)
        .collect();
    let lat = Latency::from_micros(&mut each);
    let usage = server.usage().unwrap_or_default();
    check_alive(&mut server, notes);
    let mut row = Row::new(kind.name());
    row.put("clients", n as f64)
        .put("logged_in", crowd.len() as f64)
        .put("failed", crowd.failures.len() as f64)
        .put("reconnects", crowd.retries as f64)
        .put("all_welcomed_s", all_s)
        .put("logins_per_s", per_sec(crowd.len() as u64, all_s))
        .put("login_p50_ms", lat.p50_ms)
        .put("login_p99_ms", lat.p99_ms)
        .put("server_cpu_s", cpu)
        .put("rss_mib", usage.rss_kib as f64 / 1024.0)
        .put("threads", usage.threads as f64);
    crowd.stop();
    Ok(row)
}

/// Sends `total` messages at `rate` per second, taking turns over `links`; `line` makes
/// message k with its stamp. Returns (sent, first send µs, last send µs).
fn pace(
    links: &mut [Link],
    rate: f64,
    total: usize,
    mut send: impl FnMut(&mut Link, usize, u64) -> std::io::Result<()>,
) -> (u64, u64, u64) {
    let t0 = Instant::now();
    let (mut sent, mut first, mut last) = (0, 0, 0);
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
            last = ts;
            sent += 1;
        }
    }
    (sent, first, last)
}

/// Waits until `counter` reaches `expected` or `DRAIN_TIMEOUT` passes.
fn drain(counter: &AtomicU64, expected: u64) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while counter.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
}

/// Latency and throughput of what a crowd received.
fn gather(reports: Vec<Report>, first_send: u64) -> (Latency, u64, f64) {
    let mut all: Vec<u32> = Vec::new();
    let mut last = first_send;
    for r in reports {
        all.extend_from_slice(&r.latencies_us);
        last = last.max(r.last_us);
    }
    let delivered = all.len() as u64;
    let secs = (last - first_send) as f64 / 1e6;
    (
        Latency::from_micros(&mut all),
        delivered,
        per_sec(delivered, secs),
    )
}

/// The columns every delivery scenario reports: counts, rate, then latency.
fn put_deliveries(
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

fn broadcast_line(link: &mut Link, text: String) -> std::io::Result<()> {
    match link.kind {
        Kind::Chinwag => link.request(Command::Broadcast { text }),
        Kind::Irc => link.irc(&format!("PRIVMSG {CHANNEL} :{text}")),
    }
}

fn fanout(
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
    let mut server = ctx.start(kind, n + senders, n + senders)?;
    let receivers = Crowd::start(&plan(&server, "ts=", true), 0, n, LOGIN_TIMEOUT)?;
    note_failures(kind, &receivers, notes);
    let mut sending = Crowd::start(&plan(&server, "", true), n, senders, LOGIN_TIMEOUT)?;
    note_failures(kind, &sending, notes);
    if sending.is_empty() {
        return Err(format!("{}: no sender could log in", kind.name()));
    }
    // Let the presence notices and JOINs of the logins drain before measuring.
    thread::sleep(Duration::from_secs(1));
    let counter = receivers_counter(&receivers);
    let cpu0 = cpu_secs(server.pid());
    let total = (rate * secs).round() as usize;
    let (sent, first, _) = pace(&mut sending.links, rate, total, |l, k, ts| {
        broadcast_line(l, format!("ts={ts} #{k}"))
    });
    let expected = sent * receivers.len() as u64;
    drain(&counter, expected);
    let cpu = cpu_secs(server.pid()) - cpu0;
    check_alive(&mut server, notes);
    let logged_in = receivers.len();
    let reconnects = receivers.retries;
    let (lat, delivered, per_s) = gather(receivers.stop(), first);
    sending.stop();
    let mut row = Row::new(kind.name());
    row.put("clients", logged_in as f64)
        .put("reconnects", reconnects as f64);
    put_deliveries(&mut row, sent, expected, delivered, per_s, &lat);
    row.put("server_cpu_s", cpu);
    Ok(row)
}

/// The counter a crowd's plan shares (every link of a crowd came from one plan).
fn receivers_counter(crowd: &Crowd) -> Arc<AtomicU64> {
    crowd.counter.clone()
}

#[allow(clippy::too_many_arguments)]
fn dm(
    ctx: &Ctx,
    kind: Kind,
    pairs: usize,
    rate: f64,
    secs: f64,
    background: usize,
    bg_rate: f64,
    notes: &mut Vec<String>,
) -> Result<Row, String> {
    eprintln!(
        "dm: {} with {pairs} pairs, {background} background clients...",
        kind.name()
    );
    let total_clients = background + 1 + 2 * pairs;
    let mut server = ctx.start(kind, total_clients, total_clients)?;
    let bg = Crowd::start(&plan(&server, "", true), 0, background, LOGIN_TIMEOUT)?;
    note_failures(kind, &bg, notes);
    let mut bg_sender = Crowd::start(&plan(&server, "", true), background, 1, LOGIN_TIMEOUT)?;
    let mut talkers = Crowd::start(
        &plan(&server, "dm=", true),
        background + 1,
        2 * pairs,
        LOGIN_TIMEOUT,
    )?;
    note_failures(kind, &talkers, notes);
    if talkers.len() < 2 * pairs {
        return Err(format!(
            "dm: only {} of {} talkers logged in",
            talkers.len(),
            2 * pairs
        ));
    }
    thread::sleep(Duration::from_secs(1));
    let counter = receivers_counter(&talkers);
    let names: Vec<String> = talkers.links.iter().map(|l| user_name(l.index)).collect();
    let total = (rate * 2.0 * pairs as f64 * secs).round() as usize;
    let bg_total = (bg_rate * secs).round() as usize;
    let (sent, first) = thread::scope(|s| {
        let bg_links = &mut bg_sender.links;
        if bg_total > 0 && !bg_links.is_empty() {
            s.spawn(move || {
                pace(bg_links, bg_rate, bg_total, |l, k, ts| {
                    broadcast_line(l, format!("bg={ts} #{k}"))
                })
            });
        }
        let (sent, first, _) = pace(
            &mut talkers.links,
            rate * 2.0 * pairs as f64,
            total,
            |l, k, ts| {
                let to = names[(k % (2 * pairs)) ^ 1].clone();
                l.request(Command::Message {
                    to,
                    text: format!("dm={ts} #{k}"),
                })
            },
        );
        (sent, first)
    });
    drain(&counter, sent);
    check_alive(&mut server, notes);
    let (lat, delivered, per_s) = gather(talkers.stop(), first);
    bg_sender.stop();
    bg.stop();
    let mut row = Row::new(kind.name());
    row.put("pairs", pairs as f64);
    put_deliveries(&mut row, sent, sent, delivered, per_s, &lat);
    Ok(row)
}

fn room(
    ctx: &Ctx,
    kind: Kind,
    members: usize,
    rate: f64,
    secs: f64,
    notes: &mut Vec<String>,
) -> Result<Row, String> {
    eprintln!("room: {} with {members} members, {rate}/s...", kind.name());
    let members = members.max(2);
    let mut server = ctx.start(kind, members, members)?;
    let mut crowd = Crowd::start(&plan(&server, "rm=", true), 0, members, LOGIN_TIMEOUT)?;
    note_failures(kind, &crowd, notes);
    if crowd.len() < 2 {
        return Err("room: fewer than two members logged in".into());
    }
    let others: Vec<String> = crowd.links[1..]
        .iter()
        .map(|l| user_name(l.index))
        .collect();
    crowd.links[0]
        .request(Command::Srb { users: others })
        .map_err(|e| format!("SRB: {e}"))?;
    // A fresh data directory: the first room is number 1.
    thread::sleep(Duration::from_secs(1));
    let counter = receivers_counter(&crowd);
    let turns = crowd.links.len().min(10);
    let total = (rate * secs).round() as usize;
    let (sent, first, _) = pace(&mut crowd.links[..turns], rate, total, |l, k, ts| {
        l.request(Command::Srm {
            room: 1,
            text: format!("rm={ts} #{k}"),
        })
    });
    let expected = sent * (crowd.len() as u64 - 1);
    drain(&counter, expected);
    check_alive(&mut server, notes);
    let n = crowd.len();
    let (lat, delivered, per_s) = gather(crowd.stop(), first);
    let mut row = Row::new(kind.name());
    row.put("members", n as f64);
    put_deliveries(&mut row, sent, expected, delivered, per_s, &lat);
    Ok(row)
}

fn idle(
    ctx: &Ctx,
    kind: Kind,
    n: usize,
    settle: f64,
    notes: &mut Vec<String>,
) -> Result<Row, String> {
    eprintln!("idle: {} with {n} clients...", kind.name());
    let mut server = ctx.start(kind, n, n)?;
    let base = server
        .usage()
        .map_err(|e| format!("cannot read the server's /proc: {e}"))?;
    let crowd = Crowd::start(&plan(&server, "", false), 0, n, LOGIN_TIMEOUT)?;
    note_failures(kind, &crowd, notes);
    thread::sleep(Duration::from_secs_f64(settle));
    let u = server
        .usage()
        .map_err(|e| format!("cannot read the server's /proc: {e}"))?;
    check_alive(&mut server, notes);
    let per = (u.rss_kib.saturating_sub(base.rss_kib)) as f64 / crowd.len().max(1) as f64;
    let mut row = Row::new(kind.name());
    row.put("clients", n as f64)
        .put("logged_in", crowd.len() as f64)
        .put("rss_base_mib", base.rss_kib as f64 / 1024.0)
        .put("rss_mib", u.rss_kib as f64 / 1024.0)
        .put("kib_per_client", per)
        .put("threads", u.threads as f64)
        .put("fds", u.fds as f64);
    crowd.stop();
    Ok(row)
}

fn udp(size_mb: u64) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for (name, drop) in [
        ("udp 0% loss", 0.0),
        ("udp 1% loss", 0.01),
        ("udp 5% loss", 0.05),
    ] {
        eprintln!("udp: {size_mb} MB, {name}...");
        let loss = LossConfig {
            drop,
            duplicate: 0.0,
            reorder: 0.0,
            seed: 7,
        };
        let r = udp::bench(size_mb, &loss).map_err(|e| format!("{name}: {e}"))?;
        let mut row = Row::new(name);
        row.put("mb_per_s", r.mb_per_s)
            .put("secs", r.secs)
            .put("mb", r.bytes as f64 / 1e6);
        rows.push(row);
    }
    eprintln!("udp: {size_mb} MB, plain TCP copy...");
    let r = udp::bench_tcp_copy(size_mb).map_err(|e| format!("tcp copy: {e}"))?;
    let mut row = Row::new("tcp copy");
    row.put("mb_per_s", r.mb_per_s)
        .put("secs", r.secs)
        .put("mb", r.bytes as f64 / 1e6);
    rows.push(row);
    eprintln!("udp: {size_mb} MB, bare UDP sends...");
    let r = udp::bench_raw_udp(size_mb).map_err(|e| format!("raw udp: {e}"))?;
    let mut row = Row::new("raw udp send");
    row.put("mb_per_s", r.mb_per_s)
        .put("secs", r.secs)
        .put("mb", r.bytes as f64 / 1e6);
    rows.push(row);
    Ok(rows)
}
