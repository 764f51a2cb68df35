//! `chinwag-bench`: load, latency and memory of the chinwag server, side by side with two
//! IRC servers (ngircd and InspIRCd) where the scenario has an IRC equivalent.
//!
//! Every scenario starts the server it measures as a child process (`procs`: the real
//! `chinwag-server` binary next to the bench's own executable, or an IRC server with a
//! generated configuration, `ircd`) on a free loopback port in a temporary directory,
//! drives it with crowds of clients (`clients`) that a few readiness-driven worker threads
//! run (`driver`, logging in through `login`), prints a table, writes JSON (`report`) and,
//! for latency scenarios, an SVG chart beside it (`chart`). Each row also says how much
//! CPU the bench itself and the server used, and flags a machine-bound run.
//!
//! - `logins`: N clients log in, at most `--window` connecting at a time (or all at once):
//!   logins/s, time to all welcomed.
//! - `fanout`: N online clients, senders broadcasting at a rate for a duration:
//!   deliveries/s and send-to-receipt latency (the send time travels in the text).
//! - `blast`: deliveries per second flat out, open loop or at most K messages in flight.
//! - `dm`: pairs exchanging direct messages under background broadcast load.
//! - `room`: one SRB room of N members, SRM at a rate.
//! - `idle`: N idle logged-in clients: the server's RSS per client, threads, open files.
//! - `udp`: the peer-to-peer UDP file transfer at 0/1/5% loss against a plain TCP copy.
//! - `forum`: a forum upload (UPD) and download (DWN) through the server, beside the
//!   disk's own write-and-fdatasync throughput.
//! - `report`: the README table from the JSON files of a run.
//!
//! Its own crate in the workspace, so the `chinwag` library carries no bench-only
//! dependency; it uses the library's `protocol` and `transfer` as any client would.

mod chart;
mod clients;
mod driver;
mod ircd;
mod login;
mod net;
mod procs;
mod report;
mod scenarios;
mod stats;
mod tls;
mod udp;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "chinwag-bench",
    version,
    about = "Load, latency and memory of chinwag-server, side by side with ngircd and InspIRCd"
)]
pub struct Cli {
    /// Where to write the JSON results (default bench-results/SCENARIO.json).
    #[arg(long, global = true, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The chinwag-server binary (default: next to this executable).
    #[arg(long, global = true, value_name = "PATH")]
    pub server: Option<PathBuf>,
    /// Which servers to measure, comma-separated (IRC exists for logins, fanout, blast
    /// and idle).
    #[arg(
        long,
        global = true,
        value_enum,
        value_delimiter = ',',
        default_value = "both"
    )]
    pub against: Vec<Against>,
    /// Logins in flight at once while a crowd logs in (connect to welcome), for every
    /// server alike; ngircd listens with a backlog of 10.
    #[arg(long, global = true, default_value_t = 10)]
    pub window: usize,
    /// Worker threads driving each crowd's connections.
    #[arg(long, global = true, default_value_t = 2)]
    pub workers: usize,
    /// Longest wait, in seconds, for a crowd to log in (the rest count as failed).
    #[arg(long, global = true, default_value_t = 300.0)]
    pub login_timeout: f64,
    /// Also measure chinwag with TLS (a `chinwag-tls` row beside `chinwag`; for udp,
    /// sealed transfers beside plain ones).
    #[arg(long, global = true)]
    pub tls: bool,
    /// Also measure chinwag on two cluster nodes of one redis-server, the same number of
    /// clients split between them (a `chinwag-2-nodes` row beside `chinwag`, with the
    /// Redis commands the run cost).
    #[arg(long, global = true)]
    pub cluster: bool,
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// Servers to measure: chinwag, the IRC servers (ngircd and InspIRCd), everyone (`both`
/// and `all` are the same), or one IRC server by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Against {
    Chinwag,
    Irc,
    Both,
    All,
    Ngircd,
    Inspircd,
}

impl Against {
    /// Does this choice include `kind`?
    pub fn includes(self, kind: procs::Kind) -> bool {
        use procs::Kind as K;
        match self {
            Against::Both | Against::All => true,
            Against::Chinwag => matches!(kind, K::Chinwag | K::ChinwagTls | K::ChinwagCluster),
            Against::Irc => !matches!(kind, K::Chinwag | K::ChinwagTls | K::ChinwagCluster),
            Against::Ngircd => kind == K::Ngircd,
            Against::Inspircd => kind == K::Inspircd,
        }
    }
}

/// One benchmark.
#[derive(Subcommand, Debug, Clone)]
pub enum Scenario {
    /// N clients log in, --window at a time (or all at once).
    Logins {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Sign up new users instead of logging in pre-written credentials.
        #[arg(long)]
        signup: bool,
        /// Every client connects at the same moment (no window).
        #[arg(long)]
        at_once: bool,
    },
    /// N online clients; senders broadcast at RATE per second for SECS seconds.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Sending clients, taking turns.
        #[arg(long, default_value_t = 1)]
        senders: usize,
    },
    /// N online clients; one sender broadcasts MESSAGES as fast as the server takes them.
    Blast {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        #[arg(long, default_value_t = 5000)]
        messages: usize,
        /// At most this many messages sent and not yet delivered to every receiver
        /// (0 = open loop: send without waiting).
        #[arg(long, default_value_t = 50)]
        in_flight: usize,
    },
    /// Pairs exchanging direct messages while a broadcaster loads the server.
    Dm {
        #[arg(long, default_value_t = 100)]
        pairs: usize,
        /// Messages per second sent by each member of a pair.
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Idle clients that receive the background broadcasts.
        #[arg(long, default_value_t = 800)]
        background: usize,
        /// Background broadcasts per second.
        #[arg(long, default_value_t = 20.0)]
        bg_rate: f64,
    },
    /// One SRB room of N members; members take turns sending SRM at RATE per second.
    Room {
        #[arg(long, default_value_t = 500)]
        members: usize,
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
    },
    /// N idle logged-in clients: server memory, threads and open files.
    Idle {
        #[arg(long, default_value_t = 5000)]
        clients: usize,
        /// Seconds to wait after the last login before measuring.
        #[arg(long, default_value_t = 3.0)]
        settle: f64,
    },
    /// UDP file transfer at 0%, 1% and 5% loss, and a plain TCP copy.
    Udp {
        #[arg(long, default_value_t = 200)]
        size_mb: u64,
    },
    /// A forum upload and download of SIZE_MB through the server, and the disk's own
    /// write + fdatasync throughput for the same size.
    Forum {
        #[arg(long, default_value_t = 200)]
        size_mb: u64,
    },
    /// Prints the README table from the JSON files in DIR.
    Report {
        #[arg(long, default_value = "bench-results")]
        dir: PathBuf,
    },
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Logins { .. } => "logins",
            Scenario::Fanout { .. } => "fanout",
            Scenario::Blast { .. } => "blast",
            Scenario::Forum { .. } => "forum",
            Scenario::Dm { .. } => "dm",
            Scenario::Room { .. } => "room",
            Scenario::Idle { .. } => "idle",
            Scenario::Udp { .. } => "udp",
            Scenario::Report { .. } => "report",
        }
    }
}

/// Runs one command line; an error is one line for the user.
pub fn run(cli: Cli) -> Result<(), String> {
    if let Scenario::Report { dir } = &cli.scenario {
        return report::print_readme_table(dir);
    }
    let exe = match &cli.server {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find my own executable: {e}"))?
            .with_file_name("chinwag-server"),
    };
    let ctx = scenarios::Ctx {
        exe,
        ngircd: ircd::find(procs::Kind::Ngircd),
        inspircd: ircd::find(procs::Kind::Inspircd),
        against: cli.against.clone(),
        window: cli.window,
        workers: cli.workers.max(1),
        login_timeout: std::time::Duration::from_secs_f64(cli.login_timeout.max(0.1)),
        tls: cli.tls,
        cluster: cli.cluster,
    };
    let outcome = scenarios::run(&ctx, &cli.scenario)?;
    outcome.print_table();
    let path = cli.json.clone().unwrap_or_else(|| {
        PathBuf::from("bench-results").join(format!("{}.json", cli.scenario.name()))
    });
    outcome.write_json(&path)?;
    println!("(written to {})", path.display());
    if let Some(svg) = chart::write_beside(&outcome, &path)? {
        println!("(chart in {})", svg.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chinwag-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
