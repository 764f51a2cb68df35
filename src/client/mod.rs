//! The terminal client: connect, log in, then read commands until the user leaves.
//!
//! One input thread owns standard input for the whole run (`input`: the line editor on a
//! terminal, `editor`; plain lines from a script or pipe) and hands each line to the main
//! thread, which parses it (`commands`) and sends requests over the [`Link`]; the link's
//! reader thread prints whatever arrives (decorated on a terminal, `look`). Private chat
//! runs peer to peer (`private`), file uploads to peers over UDP (`udp`,
//! `crate::transfer`), in threads of their own.

pub mod commands;
mod editor;
mod files;
mod help;
mod helpers;
mod input;
pub mod link;
mod look;
pub mod output;
pub mod peer;
pub mod private;
mod progress;
pub mod secure;
mod udp;

use crate::protocol::{Command, Response, Then};
use crate::text;
use crate::transfer;
use commands::Input;
use input::LineSource;
use link::{Ctx, Link, Shared};
use output::Printer;
use private::PrivateChat;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The client's command line: `chinwag [SERVER_IP] SERVER_PORT [UDP_PORT]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub host: String,
    pub port: u16,
    pub udp_port: u16,
    /// `--tls` and how the server is trusted.
    pub tls: Option<secure::TlsOptions>,
}

pub const CLIENT_USAGE: &str = "Usage: chinwag [SERVER_IP] SERVER_PORT [UDP_PORT]";

/// Parses the arguments after the program name.
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let (args, tls) = secure::split_args(args)?;
    let args = &args[..];
    let num = |s: &str, what: &str| {
        s.parse::<u16>().map_err(|_| {
            format!("Error. Invalid {what} {s}: expected a number from 0 to 65535. {CLIENT_USAGE}")
        })
    };
    let (host, p, udp) = match args {
        [p] => ("127.0.0.1".to_string(), p, None),
        [a, b] if a.parse::<u16>().is_ok() => ("127.0.0.1".to_string(), a, Some(b)),
        [h, p] => (h.clone(), p, None),
        [h, p, u] => (h.clone(), p, Some(u)),
        _ => return Err(CLIENT_USAGE.to_string()),
    };
    let port = num(p, "server port")?;
    if port == 0 {
        return Err(format!("Error. Invalid server port 0. {CLIENT_USAGE}"));
    }
    let udp_port = match udp {
        Some(u) => num(u, "UDP port")?,
        None => 0,
    };
    Ok(Options {
        host,
        port,
        udp_port,
        tls,
    })
}

fn connect(opts: &Options) -> Result<TcpStream, String> {
    let target = format!("{}:{}", opts.host, opts.port);
    let fail = |e: &dyn std::fmt::Display| format!("Error. Cannot connect to {target}: {e}");
    let addrs: Vec<SocketAddr> = target.to_socket_addrs().map_err(|e| fail(&e))?.collect();
    let mut last = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, Duration::from_secs(5)) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => fail(&e),
        None => fail(&"no address"),
    })
}

/// Runs the client to the end; returns the exit code.
pub fn run(opts: Options) -> i32 {
    match start(opts) {
        Ok(code) => code,
        Err(line) => {
            println!("{line}");
            1
        }
    }
}

fn start(opts: Options) -> Result<i32, String> {
    let stream = connect(&opts)?;
    let _ = stream.set_nodelay(true);
    let stream = match &opts.tls {
        Some(tls) => secure::wrap(stream, tls, &opts.host, opts.port)?,
        None => secure::Wire::Plain(stream),
    };
    let printer = Printer::plain();
    let mut lines = LineSource::new(&printer);
    let chat = PrivateChat::start(printer.clone())
        .map_err(|e| format!("Error. Cannot listen for private messaging: {e}"))?;
    let identity = peer::PeerIdentity::generate().map_err(|e| format!("Error. {e}"))?;
    chat.use_tls(if stream.is_tls() {
        identity
    } else {
        identity.and_plain()
    });
    let udp = udp::receive(&printer, opts.udp_port, lines.is_terminal())?;
    let udp = Arc::new(udp);
    let shared = Arc::new(Shared {
        editing: lines.editing(),
        ..Shared::default()
    });
    if lines.is_terminal() {
        printer.set_look(look::Look::from_env());
    }
    shared
        .interactive
        .store(lines.is_terminal(), Ordering::SeqCst);
    if lines.is_terminal() {
        exit_on_signals(shared.clone(), chat.clone());
    }
    let ctx = Ctx {
        printer: printer.clone(),
        chat: chat.clone(),
        udp: udp.clone(),
        shared,
    };
    let link = Link::start(stream, ctx).map_err(|e| format!("Error. {e}"))?;
    let mut client = Client {
        link,
        chat,
        printer,
        udp,
        me: String::new(),
        terminal: lines.is_terminal(),
    };
    let code = client.login(&mut lines).unwrap_or(1);
    let code = if code == 0 {
        client.serve(&mut lines)
    } else {
        code
    };
    client.chat.shutdown();
    editor::restore_terminal();
    Ok(code)
}

/// On a terminal, SIGTERM and SIGHUP (a kill, a closed window) end the client as a
/// logout would: peers told, the terminal restored, the shell's prompt on a line of its own.
fn exit_on_signals(shared: Arc<Shared>, chat: PrivateChat) {
    use signal_hook::consts::{SIGHUP, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                shared.leaving.store(true, Ordering::SeqCst);
                chat.shutdown();
                link::exit_now(&shared, 0);
            }
        });
}

struct Client {
    link: Link,
    chat: PrivateChat,
    printer: Printer,
    udp: Arc<transfer::Receiver>,
    /// Who we logged in as (for the `yoda> ` prompt).
    me: String,
    /// Standard input and output are a terminal.
    terminal: bool,
}

impl Client {
    /// The login dialogue; Some(0) once logged in, Some(code) to exit, None if the
    /// connection or the input ended.
    fn login(&mut self, lines: &mut LineSource) -> Option<i32> {
        let hello = Command::Hello {
            udp_port: self.udp.local_port(),
            p2p_port: self.chat.port(),
        };
        let mut resp = self.link.call(hello)?;
        let mut user = String::new();
        loop {
            let cmd = match resp.then {
                Then::AskUsername => {
                    user = lines.read_secret_or_line(text::PROMPT_USERNAME, false)?;
                    Command::Username { name: user.clone() }
                }
                Then::AskPassword => Command::Password {
                    password: lines.read_secret_or_line(text::PROMPT_PASSWORD, true)?,
                },
                Then::AskNewPassword => Command::NewPassword {
                    password: lines.read_secret_or_line(text::PROMPT_NEW_PASSWORD, true)?,
                },
                Then::LoggedIn => {
                    self.chat.set_me(&user);
                    self.me = user;
                    self.learn_who_is_online();
                    return Some(0);
                }
                Then::Exit { code } => return Some(code),
                _ => return Some(1),
            };
            resp = self.link.call(cmd)?;
        }
    }

    /// The command loop; returns the exit code.
    fn serve(&mut self, lines: &mut LineSource) -> i32 {
        let prompt = format!("{}> ", self.me);
        loop {
            let Some(line) = lines.read_command(&prompt) else {
                // End of input: log out cleanly.
                let how = crate::protocol::Farewell::Logout;
                let resp = self.link.call(Command::Logout { how });
                return self.finish(resp);
            };
            if self.answer_consent(&line) {
                continue;
            }
            let input = match commands::parse(&line) {
                Ok(i) => i,
                Err(e) => {
                    self.explain(&line, e);
                    self.ask_again();
                    continue;
                }
            };
            if let Some(code) = self.execute(input) {
                return code;
            }
            self.ask_again();
        }
    }

    /// Runs one parsed command; Some(code) when the client should exit.
    fn execute(&mut self, input: Input) -> Option<i32> {
        match input {
            Input::Nothing => None,
            Input::Help => {
                self.printer.lines(&commands::help());
                None
            }
            Input::HelpOn(cmd) => {
                match help::help_on(&cmd).filter(|_| self.terminal) {
                    Some(lines) => self.printer.lines(&lines),
                    None => self.printer.line(&commands::usage_error("help")),
                }
                None
            }
            Input::Private { user, text } => {
                match self.chat.send(&user, &text) {
                    Ok(()) => {
                        let _ = self.link.send(Command::Activity);
                        let kind = look::Kind::Private { to: Some(user) };
                        self.printer.echo(&kind, &self.me, &text);
                    }
                    Err(e) => self.printer.line(&e),
                }
                None
            }
            Input::StopPrivate { user } if self.withdraw(&user) => {
                let resp = self.link.call(Command::PrivateWithdraw { user });
                self.finish_or_continue(resp)
            }
            Input::StopPrivate { user } => {
                match self.chat.stop(&user) {
                    // A valid peer-to-peer command: counts for the idle timeout too.
                    Ok(()) => {
                        let _ = self.link.send(Command::Activity);
                    }
                    Err(e) => self.printer.line(&e),
                }
                None
            }
            Input::Server(cmd) => self.server_command(cmd),
        }
    }

    fn server_command(&mut self, cmd: Command) -> Option<i32> {
        let resp = match cmd {
            Command::Upd { title, file, .. } => return self.upload(title, file),
            Command::Dwn { title, file } => return self.download(title, file),
            Command::StartPrivate { user } if self.chat.has_session(&user) => {
                self.link.call(Command::PrivateCheck { user })
            }
            Command::StartPrivate { user } => {
                let resp = self.link.call(Command::StartPrivate { user: user.clone() });
                if resp.as_ref().is_some_and(|r| r.lines.is_empty()) {
                    self.link.shared.asked.lock().push(user);
                }
                resp
            }
            Command::Udp { user, file } => {
                let path = files::local_file(&self.printer, &file)?;
                let resp = self.link.call(Command::Udp {
                    user: user.clone(),
                    file: file.clone(),
                });
                if let Some(Response {
                    then: Then::UdpSend { addr, token, key },
                    ..
                }) = &resp
                {
                    let key = key.as_deref().and_then(crate::tls::key_from_hex);
                    let to = (addr.clone(), token.clone(), key);
                    udp::upload(&self.printer, user, file, path, to);
                }
                resp
            }
            cmd => {
                let echo = look::echo_of(&cmd);
                let resp = self.link.call(cmd);
                if let (Some((kind, text)), Some(true)) = (echo, resp.as_ref().map(|r| r.ok)) {
                    self.printer.echo(&kind, &self.me, &text);
                }
                resp
            }
        };
        self.finish_or_continue(resp)
    }

    /// None to carry on; Some(code) when the response ends the session (or there was
    /// none: the connection is gone).
    fn finish_or_continue(&mut self, resp: Option<Response>) -> Option<i32> {
        match resp {
            Some(r) if !matches!(r.then, Then::Exit { .. }) => None,
            other => Some(self.finish(other)),
        }
    }

    /// Leaves on purpose: the exit code the response names, or 1 without one.
    fn finish(&mut self, resp: Option<Response>) -> i32 {
        self.link.leave();
        match resp {
            Some(Response {
                then: Then::Exit { code },
                ..
            }) => code,
            _ => 1,
        }
    }
}
