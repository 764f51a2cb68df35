//! The client's ends of peer-to-peer UDP uploads: the receiver that saves what peers
//! send (reporting each upload's outcome, and on a terminal a `Receiving ...` line and a
//! progress bar while it runs), and the background thread that sends a file to a peer.

use super::output::Printer;
use super::progress::Progress;
use crate::text;
use crate::transfer::{self, LossConfig, RecvEvent, RecvProgress, TransferError};
use crossbeam_channel::{select, Receiver};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Binds the UDP receiver on `port` (0: any), saving into the working directory, and
/// starts the thread that reports on it; `bars`: show progress (a terminal).
pub fn receive(printer: &Printer, port: u16, bars: bool) -> Result<transfer::Receiver, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("Error. No working directory: {e}"))?;
    let (tx, events) = crossbeam_channel::unbounded();
    let (ptx, progress) = crossbeam_channel::unbounded();
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    let loss = LossConfig::from_env();
    let udp = transfer::Receiver::bind_with_progress(addr, cwd, loss, tx, bars.then_some(ptx))
        .map_err(|e| format!("Error. Cannot receive files on UDP port {port}: {e}"))?;
    let printer = printer.clone();
    let _ = std::thread::Builder::new()
        .name("udp-events".into())
        .spawn(move || report(&printer, &events, &progress));
    Ok(udp)
}

/// Prints what the receiver reports until it shuts down; bars keyed by (from, file).
fn report(printer: &Printer, events: &Receiver<RecvEvent>, progress: &Receiver<RecvProgress>) {
    let mut bars: HashMap<(String, String), Progress> = HashMap::new();
    // Without bars (not a terminal) no progress is ever sent: once its sender is gone,
    // selecting on it would return at once, every time, and spin a core.
    let never = crossbeam_channel::never();
    let mut progress = progress;
    loop {
        select! {
            recv(events) -> ev => {
                let Ok(ev) = ev else { return };
                let (key, line) = outcome(ev);
                match bars.remove(&key) {
                    Some(bar) => bar.finish(&line),
                    None => printer.line(&line),
                }
            }
            recv(progress) -> p => {
                let Ok(p) = p else {
                    progress = &never;
                    continue;
                };
                let key = (p.from.clone(), p.file.clone());
                let bar = bars.entry(key).or_insert_with(|| {
                    printer.line(&text::receiving(&p.file, &p.from));
                    Progress::receiving(printer, &p.file, &p.from, p.size)
                });
                bar.update(p.done, p.size);
            }
        }
    }
}

/// The line that ends an upload, and whose it was.
fn outcome(ev: RecvEvent) -> ((String, String), String) {
    match ev {
        RecvEvent::Received {
            from,
            file,
            saved_as,
        } => {
            let saved = saved_as
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            let line = text::received(&file, &from, saved.as_deref().unwrap_or(""));
            ((from, file), line)
        }
        RecvEvent::Failed { from, file, reason } => {
            let line = format!("Error. Receiving {file} from {from} failed: {reason}");
            ((from, file), line)
        }
    }
}

/// Sends `path` to `user` at `addr` in the background, with a bar on a terminal.
pub fn upload(printer: &Printer, user: String, file: String, path: PathBuf, to: Peer) {
    let out = printer.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("udp-upload-{file}"))
        .spawn(move || {
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let bar = Progress::start(&out, &file, &user, size);
            let res = send(&to, &path, &mut |done, total| bar.update(done, total));
            bar.finish(&match res {
                Ok(()) => format!("{file} has been uploaded"),
                Err(Failure::Transfer(TransferError::Busy)) => text::receiving_too_many(&user),
                Err(e) => format!("Error. Upload of {file} to {user} failed: {e}"),
            });
        });
    if let Err(e) = spawned {
        printer.line(&format!("Error. Cannot start the upload: {e}"));
    }
}

enum Failure {
    Address(std::net::AddrParseError),
    Transfer(TransferError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Address(e) => e.fmt(f),
            Failure::Transfer(e) => e.fmt(f),
        }
    }
}

/// Where an upload goes: the audience's address, the token, and the key that seals it
/// (when either side is on TLS).
pub type Peer = (String, String, Option<crate::tls::TransferKey>);

fn send(to: &Peer, path: &Path, bar: &mut dyn FnMut(u64, u64)) -> Result<(), Failure> {
    let (addr, token, key) = to;
    let addr = addr.parse::<SocketAddr>().map_err(Failure::Address)?;
    let loss = LossConfig::from_env();
    transfer::send_file_sealed(addr, token, path, &loss, key.as_ref(), bar)
        .map(|_| ())
        .map_err(Failure::Transfer)
}
