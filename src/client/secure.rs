//! `chinwag --tls` (BEHAVIOUR §8): the client verifies the server always, by `--ca`, by
//! `--fingerprint`, or by trust on first use with known_servers (asking on a terminal,
//! refusing an unknown server in scripted mode unless `--trust-new`).

use crate::text;
use crate::tls::{client_config, Duplex, KnownServers, TlsStream, Trust};
use rustls::pki_types::ServerName;
use rustls::ClientConnection;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the client's trust in the server comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum TrustArg {
    Ca(PathBuf),
    Fingerprint(String),
    FirstUse,
}

/// `--tls` and its options.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsOptions {
    pub trust: TrustArg,
    /// `--trust-new`: trust a server not in known_servers without asking.
    pub trust_new: bool,
}

/// Takes the TLS options out of `args` (anywhere on the line); `--ca` and
/// `--fingerprint` imply `--tls`.
pub fn split_args(args: &[String]) -> Result<(Vec<String>, Option<TlsOptions>), String> {
    let mut rest = Vec::new();
    let (mut tls, mut trust_new, mut trust) = (false, false, TrustArg::FirstUse);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| text::option_needs_value(name))
        };
        match arg.as_str() {
            "--tls" => tls = true,
            "--trust-new" => trust_new = true,
            "--ca" => trust = TrustArg::Ca(PathBuf::from(value("--ca")?)),
            "--fingerprint" => {
                let fp = value("--fingerprint")?;
                if !crate::tls::is_fingerprint(&fp) {
                    return Err(text::bad_fingerprint(&fp));
                }
                trust = TrustArg::Fingerprint(fp);
            }
            _ => rest.push(arg.clone()),
        }
    }
    let wanted = tls || trust_new || trust != TrustArg::FirstUse;
    Ok((rest, wanted.then_some(TlsOptions { trust, trust_new })))
}

/// What the client talks to the server over.
pub enum Wire {
    Plain(TcpStream),
    Tls(TlsStream),
}

impl Wire {
    pub fn try_clone(&self) -> io::Result<Wire> {
        Ok(match self {
            Wire::Plain(s) => Wire::Plain(s.try_clone()?),
            Wire::Tls(t) => Wire::Tls(t.clone()),
        })
    }

    /// The TLS session, on a TLS connection (private chat and UDP sealing follow it).
    pub fn is_tls(&self) -> bool {
        matches!(self, Wire::Tls(_))
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(s) => s.read(buf),
            Wire::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(s) => s.write(buf),
            Wire::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Wire::Plain(s) => s.flush(),
            Wire::Tls(t) => t.flush(),
        }
    }
}

/// Runs the TLS handshake with `host:port` over `stream` under `opts`; the line to print
/// if the server is not trusted or the handshake fails.
pub fn wrap(stream: TcpStream, opts: &TlsOptions, host: &str, port: u16) -> Result<Wire, String> {
    let server = format!("{host}:{port}");
    let trust = match &opts.trust {
        TrustArg::Ca(path) => Trust::Ca(path.clone()),
        TrustArg::Fingerprint(fp) => Trust::Fingerprint(fp.clone()),
        TrustArg::FirstUse => Trust::FirstUse {
            known: KnownServers::default_path().ok_or(text::NO_KNOWN_SERVERS)?,
            ask: Arc::new(ask(opts.trust_new)),
        },
    };
    let failed = |why: &dyn std::fmt::Display| text::tls_handshake_failed(&server, why);
    let (config, refusal) = client_config(&trust, &server).map_err(|e| failed(&e))?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| failed(&e))?;
    let conn = ClientConnection::new(config, name).map_err(|e| failed(&e))?;
    let duplex = Arc::new(Duplex::new(Arc::new(stream), conn));
    match duplex.handshake() {
        Ok(()) => Ok(Wire::Tls(TlsStream(duplex))),
        Err(e) => Err(match refusal.lock().take() {
            Some(refusal) => refusal.to_string(),
            None => failed(&e),
        }),
    }
}

/// The first-use question: yes with `--trust-new`, asked on a terminal, no in a script.
fn ask(trust_new: bool) -> impl Fn(&str) -> bool + Send + Sync {
    move |fingerprint: &str| {
        if trust_new {
            return true;
        }
        if !(io::stdin().is_terminal() && io::stdout().is_terminal()) {
            return false;
        }
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{}", text::tls_first_use(fingerprint));
        let _ = write!(out, "{}", text::TRUST_THIS_SERVER);
        let _ = out.flush();
        drop(out);
        let mut answer = String::new();
        let _ = io::stdin().lock().read_line(&mut answer);
        matches!(answer.trim(), "y" | "Y" | "yes" | "Yes")
    }
}
