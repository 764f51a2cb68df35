//! `chinwag-server`: arguments to a `Config`, bind, serve, exit code.

use chinwag::server::{self, Args, State};
use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.to_string();
            eprintln!("{}", text.lines().next().unwrap_or("error: bad arguments"));
            return ExitCode::from(2);
        }
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

fn serve(config: server::Config, addr: std::net::SocketAddr) -> Result<(), String> {
    let listener =
        server::bind(addr).map_err(|e| format!("Error. Cannot listen on {addr}: {e}"))?;
    let state = State::open(config)?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    state.announce(&format!("chinwag server listening on {local}"));
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
