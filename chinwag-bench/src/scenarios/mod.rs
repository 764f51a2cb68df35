//! The scenarios: each starts its server(s), drives them with crowds of clients and
//! returns an [`Outcome`] with one row per server (`crowds`: logins and idle; `traffic`:
//! fanout and blast; `pairs`: dm and room; `files`: udp and forum).

mod crowds;
mod files;
mod pairs;
mod traffic;

use crate::clients::{Crowd, Plan};
use crate::procs::{cpu_secs, Kind, Server};
use crate::report::{Machine, Outcome, Row};
use crate::{Against, Scenario};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What every scenario needs to start servers and crowds.
pub struct Ctx {
    pub exe: PathBuf,
    pub ngircd: Option<PathBuf>,
    pub inspircd: Option<PathBuf>,
    pub against: Vec<Against>,
    /// Logins in flight while a crowd logs in.
    pub window: usize,
    /// Worker threads per crowd.
    pub workers: usize,
    /// Longest wait for a crowd to log in.
    pub login_timeout: Duration,
    /// `--tls`: chinwag over TLS too.
    pub tls: bool,
    /// `--cluster`: chinwag on two nodes of one Redis too (the clients split between them).
    pub cluster: bool,
}

/// Logins in flight while an InspIRCd crowd is set up: below its listen backlog of 128.
const INSPIRCD_SETUP_WINDOW: usize = 120;

/// Bench + server CPU per wall second at or above which a run is machine-bound.
pub const MACHINE_BOUND_CORES: f64 = 1.9;

impl Ctx {
    /// The servers to measure: the IRC servers only where the scenario has an IRC
    /// equivalent and they are installed.
    fn kinds(&self, irc_too: bool, notes: &mut Vec<String>) -> Vec<Kind> {
        let wanted = |k: Kind| self.against.iter().any(|a| a.includes(k));
        let mut kinds = Vec::new();
        if wanted(Kind::Chinwag) {
            kinds.push(Kind::Chinwag);
            if self.tls {
                kinds.push(Kind::ChinwagTls);
            }
            if self.cluster {
                kinds.push(Kind::ChinwagCluster);
            }
        }
        for (kind, path) in [
            (Kind::Ngircd, &self.ngircd),
            (Kind::Inspircd, &self.inspircd),
        ] {
            if !irc_too || !wanted(kind) {
                continue;
            }
            if path.is_some() {
                kinds.push(kind);
            } else {
                let n = format!(
                    "{0} not found (apt-get install {0}, or set {1}): skipped",
                    kind.name(),
                    kind.name().to_uppercase()
                );
                eprintln!("{n}");
                notes.push(n);
            }
        }
        kinds
    }

    fn start(&self, kind: Kind, clients: usize, users: usize) -> Result<Server, String> {
        match kind {
            Kind::Chinwag => Server::chinwag(&self.exe, clients + 64, users, false),
            Kind::ChinwagTls => Server::chinwag(&self.exe, clients + 64, users, true),
            Kind::ChinwagCluster => Server::chinwag_cluster(&self.exe, clients + 64, users),
            Kind::Ngircd => Server::irc(kind, self.ngircd.as_deref().expect("checked")),
            Kind::Inspircd => Server::irc(kind, self.inspircd.as_deref().expect("checked")),
        }
    }

    /// A crowd plan for `server` through the usual window. InspIRCd 3 completes each
    /// registration on its once-a-second timer, so a window of 10 would let only 10 of
    /// its clients in per second; setting up a crowd (not the `logins` measurement, which
    /// uses one window for all) it gets [`INSPIRCD_SETUP_WINDOW`].
    fn plan(&self, server: &Server, marker: &'static str, join: bool) -> Plan {
        let window = match server.kind {
            Kind::Inspircd if self.window != 0 => self.window.max(INSPIRCD_SETUP_WINDOW),
            _ => self.window,
        };
        Plan {
            kind: server.kind,
            addrs: server.addrs.clone(),
            marker,
            join,
            window,
            workers: self.workers,
            tls: server.tls.clone(),
        }
    }

    /// Runs `each` once per server that applies.
    fn per_server(
        &self,
        irc_too: bool,
        notes: &mut Vec<String>,
        mut each: impl FnMut(Kind, &mut Vec<String>) -> Result<Row, String>,
    ) -> Result<Vec<Row>, String> {
        let mut rows = Vec::new();
        for kind in self.kinds(irc_too, notes) {
            rows.push(each(kind, notes)?);
        }
        Ok(rows)
    }
}

/// A scenario's label, parameters, headline metrics and rows.
type Parts = (String, Value, Vec<&'static str>, Vec<Row>);

/// Runs one scenario against the servers it applies to.
pub fn run(ctx: &Ctx, scenario: &Scenario) -> Result<Outcome, String> {
    let machine = Machine::now();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let mut notes = Vec::new();
    let (label, params, headline, rows) = parts(ctx, scenario, &mut notes)?;
    for r in &rows {
        if r.get("machine_bound") == Some(1.0) {
            notes.push(format!(
                "{}: machine-bound (bench + server used {:.2} cores, at or above {MACHINE_BOUND_CORES}): its figures measure the machine as much as the server",
                r.server,
                r.get("cores_used").unwrap_or(0.0)
            ));
        }
    }
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

fn parts(ctx: &Ctx, scenario: &Scenario, notes: &mut Vec<String>) -> Result<Parts, String> {
    let lat = ["p50_ms", "p90_ms", "p99_ms", "max_ms"];
    Ok(match *scenario {
        Scenario::Logins {
            clients,
            signup,
            at_once,
        } => logins_parts(ctx, clients, signup, at_once, notes)?,
        Scenario::Fanout {
            clients,
            rate,
            secs,
            senders,
        } => (
            format!("fanout, {clients} clients, {rate}/s for {secs} s"),
            json!({"clients": clients, "rate": rate, "secs": secs, "senders": senders}),
            [&["deliveries_per_s"][..], &lat[..], &["lost"][..], &CPU[..]].concat(),
            ctx.per_server(true, notes, |k, n| {
                traffic::fanout(ctx, k, clients, rate, secs, senders.max(1), n)
            })?,
        ),
        Scenario::Blast {
            clients,
            messages,
            in_flight,
        } => blast_parts(ctx, clients, messages, in_flight, notes)?,
        Scenario::Dm {
            pairs,
            rate,
            secs,
            background,
            bg_rate,
        } => {
            let load = pairs::DmLoad {
                pairs,
                rate,
                secs,
                background,
                bg_rate,
            };
            (
                format!("dm, {pairs} pairs under {bg_rate}/s broadcasts to {background}"),
                json!({"pairs": pairs, "rate": rate, "secs": secs, "background": background, "bg_rate": bg_rate}),
                vec!["p50_ms", "p99_ms", "max_ms"],
                ctx.per_server(false, notes, |k, n| pairs::dm(ctx, k, &load, n))?,
            )
        }
        _ => other_parts(ctx, scenario, notes)?,
    })
}

/// The scenarios with one server (room) or none (udp, forum), and idle.
fn other_parts(ctx: &Ctx, scenario: &Scenario, notes: &mut Vec<String>) -> Result<Parts, String> {
    Ok(match *scenario {
        Scenario::Room {
            members,
            rate,
            secs,
        } => (
            format!("room, {members} members, SRM {rate}/s"),
            json!({"members": members, "rate": rate, "secs": secs}),
            vec!["deliveries_per_s", "p50_ms", "p99_ms", "max_ms"],
            ctx.per_server(false, notes, |k, n| {
                pairs::room(ctx, k, members, rate, secs, n)
            })?,
        ),
        Scenario::Idle { clients, settle } => (
            format!("idle, {clients} clients"),
            json!({"clients": clients, "settle": settle}),
            vec!["logged_in", "kib_per_client", "rss_mib", "threads", "fds"],
            ctx.per_server(true, notes, |k, n| crowds::idle(ctx, k, clients, settle, n))?,
        ),
        Scenario::Udp { size_mb } => (
            format!("udp, {size_mb} MB"),
            json!({"size_mb": size_mb}),
            vec!["mb_per_s"],
            files::udp(size_mb, ctx.tls)?,
        ),
        Scenario::Forum { size_mb } => (
            format!("forum, {size_mb} MB"),
            json!({"size_mb": size_mb}),
            vec!["mib_per_s"],
            files::forum(ctx, size_mb, notes)?,
        ),
        _ => unreachable!("report is handled by the caller; the rest by parts"),
    })
}

const CPU: [&str; 2] = ["server_cpu_s", "bench_cpu_s"];

fn logins_parts(
    ctx: &Ctx,
    clients: usize,
    signup: bool,
    at_once: bool,
    notes: &mut Vec<String>,
) -> Result<Parts, String> {
    let window = if at_once { 0 } else { ctx.window };
    let rows = ctx.per_server(true, notes, |k, n| {
        crowds::logins(ctx, k, clients, signup, window, n)
    })?;
    let how = if at_once {
        "at once".to_string()
    } else {
        format!("{window} at a time")
    };
    let head = [
        "all_welcomed_s",
        "logins_per_s",
        "login_p99_ms",
        "reconnects",
    ];
    Ok((
        format!("logins, {clients} clients {how}"),
        json!({"clients": clients, "signup": signup, "window": window}),
        [&head[..], &CPU[..1]].concat(),
        rows,
    ))
}

fn blast_parts(
    ctx: &Ctx,
    clients: usize,
    messages: usize,
    in_flight: usize,
    notes: &mut Vec<String>,
) -> Result<Parts, String> {
    let how = match in_flight {
        0 => "open loop".to_string(),
        k => format!("at most {k} in flight"),
    };
    let head = ["deliveries_per_s", "p50_ms", "p99_ms", "lost"];
    Ok((
        format!("blast, {clients} clients, {how}"),
        json!({"clients": clients, "messages": messages, "in_flight": in_flight}),
        [&head[..], &CPU[..]].concat(),
        ctx.per_server(true, notes, |k, n| {
            traffic::blast(ctx, k, clients, messages, in_flight, n)
        })?,
    ))
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

/// CPU of the server and of the bench itself over a measured stretch of wall time.
pub struct Meter {
    /// The server's processes (a cluster's nodes and its Redis).
    server_pids: Vec<u32>,
    wall: Instant,
    server0: f64,
    bench0: f64,
    /// A cluster: the Redis socket and its commands so far.
    redis: Option<(PathBuf, [u64; 3])>,
}

/// CPU seconds of all of `pids`.
fn cpu_of(pids: &[u32]) -> f64 {
    pids.iter().map(|&p| cpu_secs(p)).sum()
}

impl Meter {
    pub fn start(server: &Server) -> Meter {
        let pids = server.pids();
        Meter {
            server0: cpu_of(&pids),
            server_pids: pids,
            wall: Instant::now(),
            bench0: cpu_secs(std::process::id()),
            redis: server
                .redis_socket()
                .map(|s| (s.to_path_buf(), crate::procs::redis_calls(s))),
        }
    }

    /// Puts `server_cpu_s`, `bench_cpu_s`, `cores_used` and `machine_bound` (1 when
    /// bench + server used at least [`MACHINE_BOUND_CORES`] cores on average).
    pub fn put(&self, row: &mut Row) {
        let wall = self.wall.elapsed().as_secs_f64();
        let server = cpu_of(&self.server_pids) - self.server0;
        if let Some((sock, calls0)) = &self.redis {
            let calls = crate::procs::redis_calls(sock);
            let d = |i: usize| calls[i].saturating_sub(calls0[i]) as f64;
            row.put("redis_cmds", d(0))
                .put("redis_publish", d(1))
                .put("redis_scripts", d(2));
        }
        let bench = cpu_secs(std::process::id()) - self.bench0;
        let cores = if wall > 0.0 {
            (server + bench) / wall
        } else {
            0.0
        };
        row.put("server_cpu_s", server)
            .put("bench_cpu_s", bench)
            .put("cores_used", cores)
            .put(
                "machine_bound",
                f64::from(u8::from(cores >= MACHINE_BOUND_CORES)),
            );
    }
}
