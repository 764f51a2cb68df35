//! The server's configuration and its command line: the three short forms of the seeds
//! (`PORT ATTEMPTS`, `PORT BLOCK_DURATION TIMEOUT`, `PORT ADMIN_PASSWORD`) plus options,
//! where an option always wins over a short form.

use super::secure::TlsSetup;
use clap::Parser;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the server needs to know; read-only once the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Consecutive wrong passwords before an account is locked.
    pub attempts: u32,
    pub block_duration: Duration,
    /// Idle logout; `None` = never.
    pub timeout: Option<Duration>,
    /// Enables `SHT`.
    pub admin_password: Option<String>,
    /// `SHT` also deletes the forum's threads and uploads (forum short form).
    pub wipe_forum_on_shutdown: bool,
    pub signup: bool,
    pub data_dir: PathBuf,
    pub credentials: PathBuf,
    /// Connections served at once; more are refused.
    pub max_clients: usize,
    /// What this machine can hold, and why (the ceiling for `max_clients`).
    pub capacity: super::capacity::Capacity,
    /// Largest forum upload, in bytes.
    pub max_upload: u64,
    pub quiet: bool,
    /// Commands per second one connection may send on average; 0 = no limit.
    pub rate_limit: u32,
    /// Commands one connection may send at once before the rate applies.
    pub rate_burst: u32,
    /// Failed password attempts per source address per minute; 0 = no throttle.
    pub login_throttle: u32,
    /// A connection that has not logged in by then is closed (the idle timeout wins if
    /// shorter; see [`Config::login_limit`]).
    pub login_timeout: Duration,
    /// At most one write of presence notices per client per this long
    /// ([`outbox::NOTICE_LINGER`](super::outbox::NOTICE_LINGER); tests make it short).
    pub notice_linger: Duration,
    /// `--cluster`: the Redis this node shares with the others (BEHAVIOUR §7).
    pub cluster: Option<super::node::ClusterConfig>,
    /// `--tls`: TLS beside plain on the one port (BEHAVIOUR §8).
    pub tls: Option<super::secure::TlsSetup>,
}

impl Default for Config {
    fn default() -> Self {
        let capacity = super::capacity::Capacity::detect();
        Config {
            attempts: 3,
            block_duration: Duration::from_secs(10),
            timeout: None,
            admin_password: None,
            wipe_forum_on_shutdown: false,
            signup: true,
            data_dir: PathBuf::from("."),
            credentials: PathBuf::from("./credentials.txt"),
            max_clients: capacity.clients,
            capacity,
            max_upload: 4 << 30,
            quiet: false,
            rate_limit: DEFAULT_RATE_LIMIT,
            rate_burst: DEFAULT_RATE_BURST,
            login_throttle: DEFAULT_LOGIN_THROTTLE,
            login_timeout: DEFAULT_LOGIN_TIMEOUT,
            notice_linger: super::outbox::NOTICE_LINGER,
            cluster: None,
            tls: None,
        }
    }
}

impl Config {
    /// How long a connection may stay without logging in.
    pub fn login_limit(&self) -> Duration {
        self.timeout
            .map_or(self.login_timeout, |t| t.min(self.login_timeout))
    }
}

/// BEHAVIOUR §6: a connection that has not logged in within 30 s is closed.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Far above what a person types or a script of a few hundred commands sends, far below
/// a flood: one connection cannot keep more than a few percent of the server busy.
pub const DEFAULT_RATE_LIMIT: u32 = 200;
pub const DEFAULT_RATE_BURST: u32 = 1000;
/// Enough for several people behind one address to mistype, far too few to guess with.
pub const DEFAULT_LOGIN_THROTTLE: u32 = 100;

/// The command line as typed.
#[derive(Parser, Debug)]
#[command(
    name = "chinwag-server",
    version,
    allow_negative_numbers = true,
    about = "The chinwag messaging server",
    after_help = "Short forms (as the original assignments):\n  \
        chinwag-server PORT ATTEMPTS                 1-5 failed logins lock an account for 10 s; no sign-up\n  \
        chinwag-server PORT BLOCK_DURATION TIMEOUT   3 attempts, lockout and idle timeout in seconds; sign-up on\n  \
        chinwag-server PORT ADMIN_PASSWORD           enables SHT, which also wipes the forum; sign-up on"
)]
pub struct Args {
    /// TCP port to listen on (0 picks a free one).
    pub port: u16,
    /// ATTEMPTS, BLOCK_DURATION or ADMIN_PASSWORD (see the short forms below).
    pub second: Option<String>,
    /// TIMEOUT in the messaging form.
    pub third: Option<String>,
    /// Consecutive failed logins before an account is locked (1-5).
    #[arg(long)]
    pub attempts: Option<u32>,
    /// Seconds an account stays locked.
    #[arg(long, value_name = "SECS")]
    pub block_duration: Option<u64>,
    /// Seconds of inactivity before logout (0 = never).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Password for SHT (shutdown).
    #[arg(long, value_name = "PW")]
    pub admin_password: Option<String>,
    /// Let unknown usernames create an account.
    #[arg(long, overrides_with = "no_signup")]
    pub signup: bool,
    /// Refuse unknown usernames.
    #[arg(long)]
    pub no_signup: bool,
    /// Where logs, threads and uploads live.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Credentials file (default DATA_DIR/credentials.txt).
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// Address to listen on (default all interfaces).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,
    /// Connections served at once [default: what this machine can hold, worked out at
    /// start-up from vm.max_map_count and the open-file limit].
    #[arg(long, value_name = "N")]
    pub max_clients: Option<usize>,
    /// Largest forum upload in bytes (default 4 GiB).
    #[arg(long, value_name = "BYTES")]
    pub max_upload: Option<u64>,
    /// Commands per second a connection may send on average, past the burst (0 = no limit)
    /// [default: 200].
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<u32>,
    /// Commands a connection may send at once before --rate-limit applies [default: 1000].
    #[arg(long, value_name = "N")]
    pub rate_burst: Option<u32>,
    /// Failed password attempts allowed per source address per minute; past it, logins
    /// from that address are refused without counting against the account (0 = off)
    /// [default: 100].
    #[arg(long, value_name = "N")]
    pub login_throttle: Option<u32>,
    /// Seconds a connection may take to log in (fractions allowed; for tests).
    #[arg(long, value_name = "SECS", hide = true)]
    pub login_timeout: Option<f64>,
    /// Seconds between two writes of presence notices to a client (fractions allowed;
    /// for tests) [default: 0.25].
    #[arg(long, value_name = "SECS", hide = true)]
    pub notice_linger: Option<f64>,
    /// Join a cluster of servers sharing this Redis (redis://HOST:PORT[/DB]).
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
    /// This node's name in logs and diagnostics [default: host name and port].
    #[arg(long, value_name = "NAME", requires = "cluster")]
    pub node: Option<String>,
    /// Seconds a node and its users' logins outlive its last heartbeat (fractions
    /// allowed; for tests) [default: 5].
    #[arg(long, value_name = "SECS", requires = "cluster", hide = true)]
    pub lease: Option<f64>,
    /// Seconds one Redis call may take before Redis counts as unavailable (fractions
    /// allowed; for tests) [default: 2].
    #[arg(long, value_name = "SECS", requires = "cluster", hide = true)]
    pub redis_timeout: Option<f64>,
    /// Take TLS connections as well as plain ones on PORT (with a self-signed certificate
    /// kept in DATA_DIR/tls/ unless --tls-cert and --tls-key are given).
    #[arg(long)]
    pub tls: bool,
    /// The certificate chain (PEM) to present; implies --tls.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, SEC1 or PKCS#1); implies --tls.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Refuse plain connections; implies --tls.
    #[arg(long)]
    pub tls_required: bool,
    /// Print nothing.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print diagnostics.
    #[arg(short, long)]
    pub debug: bool,
}

/// The validation line the TOOM assignment asks for.
pub fn bad_attempts(given: &str) -> String {
    format!(
        "Invalid number of allowed failed consecutive attempt: {given}. \
         The valid value of argument number is an integer between 1 and 5"
    )
}

fn looks_numeric(s: &str) -> bool {
    s.parse::<f64>().is_ok()
}

fn parse_secs(what: &str, s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .map_err(|_| format!("Invalid {what}: {s}. It must be a whole number of seconds"))
}

/// An option's seconds (fractions allowed), which must be more than 0.
fn positive_secs(option: &str, secs: Option<f64>) -> Result<Option<Duration>, String> {
    let Some(s) = secs else { return Ok(None) };
    let d = Duration::try_from_secs_f64(s).ok().filter(|d| !d.is_zero());
    d.map(Some).ok_or_else(|| format!("Invalid {option}: {s}"))
}

fn parse_attempts(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if (1..=5).contains(&n) => Ok(n),
        _ => Err(bad_attempts(s)),
    }
}

impl Args {
    /// Turns the command line into a configuration, or one error line.
    pub fn into_config(self) -> Result<(Config, std::net::SocketAddr), String> {
        let mut c = Config::default();
        self.apply_short_form(&mut c)?;
        self.apply_options(&mut c)?;
        let lease = positive_secs("--lease", self.lease)?;
        let redis_timeout = positive_secs("--redis-timeout", self.redis_timeout)?;
        c.cluster = self.cluster.as_ref().map(|url| super::node::ClusterConfig {
            url: url.clone(),
            node: self.node.clone(),
            lease: lease.unwrap_or(super::node::LEASE),
            redis_timeout: redis_timeout.unwrap_or(crate::cluster::CALL_TIMEOUT),
        });
        let ip = self.bind.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        Ok((c, std::net::SocketAddr::new(ip, self.port)))
    }

    fn apply_short_form(&self, c: &mut Config) -> Result<(), String> {
        match (&self.second, &self.third) {
            (None, None) => {}
            (Some(a), None) if looks_numeric(a) => {
                c.attempts = parse_attempts(a)?;
                c.signup = false;
            }
            (Some(pw), None) => {
                c.admin_password = Some(pw.clone());
                c.wipe_forum_on_shutdown = true;
            }
            (Some(block), Some(timeout)) => {
                c.block_duration = Duration::from_secs(parse_secs("block duration", block)?);
                let t = parse_secs("timeout", timeout)?;
                c.timeout = (t > 0).then(|| Duration::from_secs(t));
            }
            (None, Some(_)) => unreachable!("clap fills positionals in order"),
        }
        Ok(())
    }

    fn apply_options(&self, c: &mut Config) -> Result<(), String> {
        if let Some(n) = self.attempts {
            c.attempts = parse_attempts(&n.to_string())?;
        }
        if let Some(s) = self.block_duration {
            c.block_duration = Duration::from_secs(s);
        }
        if let Some(t) = self.timeout {
            c.timeout = (t > 0).then(|| Duration::from_secs(t));
        }
        if let Some(pw) = &self.admin_password {
            c.admin_password = Some(pw.clone());
            c.wipe_forum_on_shutdown = false;
        }
        if self.signup {
            c.signup = true;
        }
        if self.no_signup {
            c.signup = false;
        }
        if let Some(d) = &self.data_dir {
            c.data_dir = d.clone();
        }
        c.credentials = match &self.credentials {
            Some(f) => f.clone(),
            None => c.data_dir.join("credentials.txt"),
        };
        self.apply_limits(c)?;
        c.quiet = self.quiet;
        c.tls = TlsSetup::from_args(self, &c.data_dir)?;
        Ok(())
    }

    /// The options that bound what clients may take: connections, uploads, time to log
    /// in, request rates.
    fn apply_limits(&self, c: &mut Config) -> Result<(), String> {
        if let Some(n) = self.max_clients {
            if n == 0 {
                return Err("Invalid --max-clients: it must be at least 1".into());
            }
            if n > c.capacity.clients {
                let (limit, why) = (c.capacity.clients, c.capacity.to_string());
                return Err(crate::text::too_many_clients(n, limit, &why));
            }
            c.max_clients = n;
        }
        if let Some(n) = self.max_upload {
            c.max_upload = n;
        }
        if let Some(t) = positive_secs("--login-timeout", self.login_timeout)? {
            c.login_timeout = t;
        }
        if let Some(s) = self.notice_linger {
            c.notice_linger = Duration::try_from_secs_f64(s)
                .map_err(|_| format!("Invalid --notice-linger: {s}"))?;
        }
        if let Some(n) = self.rate_limit {
            c.rate_limit = n;
        }
        if let Some(n) = self.rate_burst {
            if n == 0 {
                return Err("Invalid --rate-burst: it must be at least 1".into());
            }
            c.rate_burst = n;
        }
        if let Some(n) = self.login_throttle {
            c.login_throttle = n;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
