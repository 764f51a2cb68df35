//! `chinwag-server`: arguments to a `Config`, bind, serve, exit code.

use chinwag::server::{self, Args, State};
use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == "export") {
        return export();
    }
    tune_malloc();
    let args = match parse(Args::try_parse()) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let level = if args.debug { "debug" } else { "warn" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    let (config, addr) = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match serve(config, addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// `chinwag-server export --cluster URL DIR`.
fn export() -> ExitCode {
    let args = std::env::args_os().skip(1);
    let args = match parse(chinwag::cluster::export::ExportArgs::try_parse_from(args)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match args.run() {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// One thread per client, and glibc's malloc keeps what each thread frees in a cache of
/// its own (tcache) and spreads threads over up to 8 arenas per core, each keeping its
/// own free memory: measured, 28 KiB RSS per idle client at 5,000, against 16 KiB with
/// both turned down. GLIBC_TUNABLES is read only when a process starts, so the server
/// re-executes itself once with them set (same pid, arguments and descriptors); if that
/// fails it carries on as it is.
fn tune_malloc() {
    use std::os::unix::process::CommandExt;
    const TUNE: &str = "glibc.malloc.tcache_count=0:glibc.malloc.arena_max=1";
    let old = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if old.contains("glibc.malloc.tcache_count") {
        return; // done already, or the operator's own choice
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let tune = match old.is_empty() {
        true => TUNE.to_string(),
        false => format!("{old}:{TUNE}"),
    };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    let _failed = cmd.args(args).env("GLIBC_TUNABLES", tune).exec();
}

/// Parsed arguments, or the exit code once clap's `--help`/`--version` text (exit 0) or
/// its error on one line (exit 2) is printed.
fn parse<T>(parsed: Result<T, clap::Error>) -> Result<T, ExitCode> {
    parsed.map_err(|e| {
        if e.use_stderr() {
            eprintln!("{}", first_paragraph(&e.to_string()));
            ExitCode::from(2)
        } else {
            let _ = e.print();
            ExitCode::SUCCESS
        }
    })
}

/// clap's error up to its usage, on one line: `error: the following required arguments
/// were not provided: <PORT>` (the names clap lists below its first line).
fn first_paragraph(text: &str) -> String {
    let words: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    match words.is_empty() {
        true => "error: bad arguments".to_string(),
        false => words.join(" "),
    }
}

fn serve(mut config: server::Config, addr: std::net::SocketAddr) -> Result<(), String> {
    let listener =
        server::bind(addr).map_err(|e| format!("Error. Cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    if let Some(cluster) = config.cluster.as_mut() {
        let port = local.port();
        cluster
            .node
            .get_or_insert_with(|| server::node::default_name(port));
    }
    let state = State::open(config)?;
    state.announce(&format!("chinwag server listening on {local}"));
    if let Some(node) = state.node() {
        state.announce(&chinwag::text::joined_cluster(&node.name));
    }
    if let Some(tls) = &state.config().tls {
        state.announce(&chinwag::text::tls_fingerprint(&tls.fingerprint));
    }
    let cap = &state.config().capacity;
    state.announce(&chinwag::text::serving_at_most(
        state.config().max_clients,
        cap.clients,
        &cap.to_string(),
    ));
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let handle = signals.handle();
    let on_signal = state.clone();
    let watcher = std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            on_signal.announce("Server shutting down");
            on_signal.shutdown();
        }
    });
    server::run(listener, state).map_err(|e| format!("Error. The server failed: {e}"))?;
    handle.close();
    let _ = watcher.join();
    Ok(())
}
