//! Logging in, one line at a time, as a state machine the workers of `driver` step:
//! chinwag's `hello`, `username`, then `password` or `new_password` as the server asks;
//! IRC's `NICK`/`USER` until `001`, then optionally `JOIN` until the end of `NAMES` (366).

use crate::net::send_all;
use crate::procs::{password, user_name};
use crate::tls::Sock;
use chinwag::protocol::{self, Command, Request, ServerMsg, Then};
use std::io;

/// The IRC channel every IRC client joins.
pub const CHANNEL: &str = "#bench";

/// Which protocol a crowd speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Chinwag,
    Irc,
}

/// Where a connection is in its login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Connecting,
    /// chinwag: waiting for the answers to request 1, 2, 3.
    Hello,
    Username,
    Password,
    /// IRC: waiting for 001.
    Nick,
    /// IRC: registered; the caller joins or is done.
    Joined,
    /// IRC: waiting for 366.
    Join,
    Ready,
}

fn request(sock: &Sock, id: u64, cmd: Command) -> Result<(), String> {
    sock.send_all(&protocol::encode(&Request { id, cmd }))
        .map_err(|e| format!("send: {e}"))
}

/// The connection is up: the first login line(s).
pub fn first(proto: Proto, sock: &Sock, i: usize) -> Result<Step, String> {
    match proto {
        Proto::Chinwag => {
            let hello = Command::Hello {
                udp_port: 0,
                p2p_port: 0,
            };
            request(sock, 1, hello)?;
            Ok(Step::Hello)
        }
        Proto::Irc => {
            // ngircd allows nicks of at most 9 characters: bench13999 would be refused.
            let nick = format!("bn{i}");
            send_all(
                sock,
                format!("NICK {nick}\r\nUSER {nick} 0 * :bench\r\n").as_bytes(),
            )
            .map_err(|e| format!("send: {e}"))?;
            Ok(Step::Nick)
        }
    }
}

/// IRC: joins the bench channel.
pub fn join(sock: &Sock) -> Result<Step, String> {
    sock.send_all(format!("JOIN {CHANNEL}\r\n").as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    Ok(Step::Join)
}

/// Answers an IRC `PING` line.
pub fn pong(sock: &Sock, ping: &[u8]) -> io::Result<()> {
    let mut line = b"PONG".to_vec();
    line.extend_from_slice(&ping[4.min(ping.len())..]);
    line.extend_from_slice(b"\r\n");
    sock.send_all(&line)
}

/// One line arrived during login at `step`: the next step (or the same).
pub fn advance(
    proto: Proto,
    step: Step,
    sock: &Sock,
    line: &[u8],
    i: usize,
) -> Result<Step, String> {
    match proto {
        Proto::Chinwag => chinwag(step, sock, line, i),
        Proto::Irc => irc(step, sock, line),
    }
}

fn chinwag(step: Step, sock: &Sock, line: &[u8], i: usize) -> Result<Step, String> {
    if line.starts_with(b"{\"ev\":\"bye\"") || line.starts_with(b"{\"ev\":\"error\"") {
        return Err(String::from_utf8_lossy(line).into_owned());
    }
    if !line.starts_with(b"{\"re\":") {
        return Ok(step);
    }
    let Ok(ServerMsg::Response(resp)) = protocol::decode::<ServerMsg>(line) else {
        return Ok(step);
    };
    match (step, resp.re) {
        (Step::Hello, 1) => {
            request(sock, 2, Command::Username { name: user_name(i) })?;
            Ok(Step::Username)
        }
        (Step::Username, 2) => {
            let pw = password(i);
            let cmd = match resp.then {
                Then::AskPassword => Command::Password { password: pw },
                Then::AskNewPassword => Command::NewPassword { password: pw },
                other => return Err(format!("username refused: {other:?} {:?}", resp.lines)),
            };
            request(sock, 3, cmd)?;
            Ok(Step::Password)
        }
        (Step::Password, 3) if resp.then == Then::LoggedIn => Ok(Step::Ready),
        (Step::Password, 3) => Err(format!("not welcomed: {:?}", resp.lines)),
        _ => Ok(step),
    }
}

fn irc(step: Step, sock: &Sock, line: &[u8]) -> Result<Step, String> {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split(' ');
    let first = words.next().unwrap_or("");
    if first == "PING" {
        pong(sock, line).map_err(|e| format!("pong: {e}"))?;
        return Ok(step);
    }
    if first == "ERROR" {
        return Err(text.into_owned());
    }
    let cmd = words.next().unwrap_or("");
    match (step, cmd) {
        (Step::Nick, "001") => Ok(Step::Joined),
        (Step::Join, "366") => Ok(Step::Ready),
        (_, c) if c.len() == 3 && c.starts_with('4') => Err(text.into_owned()),
        _ => Ok(step),
    }
}
