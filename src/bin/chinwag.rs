//! `chinwag`: arguments to options, run the client, exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("error")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-V" || a == "--version") {
        println!("chinwag {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{}", chinwag::client::CLIENT_USAGE);
        println!(
            "Connects to a chinwag server (SERVER_IP defaults to 127.0.0.1). UDP_PORT is where"
        );
        println!("this client receives peer-to-peer file uploads (0 or absent: the OS picks).");
        println!("       chinwag --tls [--fingerprint SHA256:HEX | --ca FILE] [--trust-new] ...");
        println!("--tls verifies the server by --ca (chain and name), --fingerprint (exact), or");
        println!(
            "trust on first use in $XDG_CONFIG_HOME/chinwag/known_servers (--trust-new: without"
        );
        println!("asking; a changed certificate is always refused).");
        println!("Type `help` after logging in for the commands. -V, --version: the version.");
        return ExitCode::SUCCESS;
    }
    match chinwag::client::parse_args(&args) {
        Ok(opts) => ExitCode::from(chinwag::client::run(opts).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
