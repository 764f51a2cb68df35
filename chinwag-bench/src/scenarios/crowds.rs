//! Crowds that only log in: `logins` (how fast, through the window or all at once) and
//! `idle` (what the logged-in crowd costs the server).

use super::{check_alive, note_failures, Ctx, Meter};
use crate::clients::{Crowd, Plan};
use crate::procs::Kind;
use crate::report::Row;
use crate::stats::{per_sec, Latency};
use std::thread;
use std::time::Duration;

pub fn logins(
    ctx: &Ctx,
    kind: Kind,
    n: usize,
    signup: bool,
    window: usize,
    notes: &mut Vec<String>,
) -> Result<Row, String> {
    eprintln!(
        "logins: {} with {n} clients, window {window}...",
        kind.name()
    );
    let mut server = ctx.start(kind, n, if signup { 0 } else { n })?;
    let plan = Plan {
        window,
        ..ctx.plan(&server, "", false)
    };
    let meter = Meter::start(&server);
    let crowd = Crowd::start(&plan, 0, n, ctx.login_timeout)?;
    let mut row = Row::new(kind.name());
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
    row.put("clients", n as f64)
        .put("window", window as f64)
        .put("logged_in", crowd.len() as f64)
        .put("failed", crowd.failures.len() as f64)
        .put("reconnects", crowd.retries as f64)
        .put("all_welcomed_s", all_s)
        .put("logins_per_s", per_sec(crowd.len() as u64, all_s))
        .put("login_p50_ms", lat.p50_ms)
        .put("login_p99_ms", lat.p99_ms)
        .put("rss_mib", usage.rss_kib as f64 / 1024.0)
        .put("threads", usage.threads as f64);
    meter.put(&mut row);
    crowd.stop();
    Ok(row)
}

pub fn idle(
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
    let meter = Meter::start(&server);
    let crowd = Crowd::start(&ctx.plan(&server, "", false), 0, n, ctx.login_timeout)?;
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
        .put("fds", u.fds as f64)
        .put(
            "bench_rss_mib",
            crate::procs::Usage::of(std::process::id()).map_or(0.0, |b| b.rss_kib as f64 / 1024.0),
        );
    meter.put(&mut row);
    crowd.stop();
    Ok(row)
}
