//! What the user typed, parsed into a request for the server or a local action. Usage
//! errors are caught here so that no request reaches the server when the client can tell
//! it is wrong. Commands are case-sensitive; arguments are separated by single spaces and
//! the last argument of a message command takes the rest of the line.

use crate::protocol::{Command, Farewell};
use crate::text;

/// A parsed line.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Send to the server.
    Server(Command),
    /// `private USER TEXT`: peer to peer.
    Private {
        user: String,
        text: String,
    },
    /// `stopprivate USER`: peer to peer.
    StopPrivate {
        user: String,
    },
    Help,
    /// `help CMD` (on a terminal; in scripted mode it stays a usage error).
    HelpOn(String),
    /// A blank line: nothing happens.
    Nothing,
}

/// Every command with its usage, for `help` and for usage errors.
pub const USAGE: &[(&str, &str)] = &[
    ("message", "message <user> <message>"),
    ("broadcast", "broadcast <message>"),
    ("whoelse", "whoelse"),
    ("whoelsesince", "whoelsesince <seconds>"),
    ("block", "block <user>"),
    ("unblock", "unblock <user>"),
    ("startprivate", "startprivate <user>"),
    ("private", "private <user> <message>"),
    ("stopprivate", "stopprivate <user>"),
    ("logout", "logout"),
    ("BCM", "BCM <message>"),
    ("ATU", "ATU"),
    ("SRB", "SRB <user> [<user> ...]"),
    ("SRM", "SRM <room id> <message>"),
    ("RDM", "RDM <b|s> <time, e.g. 1 Jun 2022 16:01:20>"),
    ("UDP", "UDP <user> <file>"),
    ("OUT", "OUT"),
    ("CRT", "CRT <thread>"),
    ("MSG", "MSG <thread> <message>"),
    ("DLT", "DLT <thread> <message number>"),
    ("EDT", "EDT <thread> <message number> <message>"),
    ("LST", "LST"),
    ("RDT", "RDT <thread>"),
    ("UPD", "UPD <thread> <file>"),
    ("DWN", "DWN <thread> <file>"),
    ("RMV", "RMV <thread>"),
    ("XIT", "XIT"),
    ("SHT", "SHT <admin password>"),
    ("help", "help"),
];

const FORUM: &[&str] = &[
    "CRT", "MSG", "DLT", "EDT", "LST", "RDT", "UPD", "DWN", "RMV", "XIT", "SHT",
];

/// The usage error for `cmd`, in its family's wording.
pub fn usage_error(cmd: &str) -> String {
    if FORUM.contains(&cmd) {
        return text::incorrect_syntax(cmd);
    }
    let usage = USAGE
        .iter()
        .find(|(name, _)| *name == cmd)
        .map_or(cmd, |(_, u)| *u);
    text::usage(usage)
}

/// The `help` text.
pub fn help() -> Vec<String> {
    let mut out = vec!["Commands:".to_string()];
    out.extend(USAGE.iter().map(|(_, u)| format!("  {u}")));
    out
}

/// Parses one line. `Err` is the line to print.
pub fn parse(line: &str) -> Result<Input, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(Input::Nothing);
    }
    let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
    let args: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split(' ').collect()
    };
    let words = Words {
        cmd,
        rest,
        args: &args,
    };
    parse_messaging(&words)
        .or_else(|| parse_toom(cmd, &args, rest))
        .unwrap_or_else(|| parse_forum(cmd, &args, rest))
}

/// One typed line cut into its command and its words.
struct Words<'a> {
    cmd: &'a str,
    rest: &'a str,
    args: &'a [&'a str],
}

impl Words<'_> {
    fn bad(&self) -> String {
        usage_error(self.cmd)
    }

    /// Exactly `n` non-empty words.
    fn exactly(&self, n: usize) -> Result<Vec<String>, String> {
        if self.args.len() == n && self.args.iter().all(|a| !a.is_empty()) {
            Ok(self.args.iter().map(|s| s.to_string()).collect())
        } else {
            Err(self.bad())
        }
    }

    /// `k` words then a non-empty text that takes the rest of the line.
    fn text_after(&self, k: usize) -> Result<(Vec<String>, String), String> {
        let parts: Vec<&str> = self.rest.splitn(k + 1, ' ').collect();
        if parts.len() == k + 1
            && parts[..k].iter().all(|w| !w.is_empty())
            && !parts[k].trim().is_empty()
        {
            let head = parts[..k].iter().map(|s| s.to_string()).collect();
            Ok((head, parts[k].to_string()))
        } else {
            Err(self.bad())
        }
    }

    /// The one word naming a user.
    fn user(&self) -> Result<String, String> {
        Ok(self.exactly(1)?.remove(0))
    }
}

/// Messaging, presence, private chat and help; `None` for other commands.
fn parse_messaging(w: &Words<'_>) -> Option<Result<Input, String>> {
    let server = |c: Command| Ok(Input::Server(c));
    let args = w.args;
    let parsed = match w.cmd {
        "message" => w.text_after(1).and_then(|(mut head, text)| {
            server(Command::Message {
                to: head.remove(0),
                text,
            })
        }),
        "broadcast" => w
            .text_after(0)
            .and_then(|(_, text)| server(Command::Broadcast { text })),
        "whoelse" => w.exactly(0).and_then(|_| server(Command::WhoElse)),
        "whoelsesince" => w.exactly(1).and_then(|v| {
            let secs = v[0].parse::<u64>().map_err(|_| w.bad())?;
            server(Command::WhoElseSince { secs })
        }),
        "block" => w.user().and_then(|user| server(Command::Block { user })),
        "unblock" => w.user().and_then(|user| server(Command::Unblock { user })),
        "logout" => w.exactly(0).and_then(|_| {
            server(Command::Logout {
                how: Farewell::Logout,
            })
        }),
        "startprivate" => w
            .user()
            .and_then(|user| server(Command::StartPrivate { user })),
        "private" => w.text_after(1).map(|(mut head, text)| Input::Private {
            user: head.remove(0),
            text,
        }),
        "stopprivate" => w.user().map(|user| Input::StopPrivate { user }),
        "help" if args.len() == 1 && crate::client::help::usage_of(args[0]).is_some() => {
            Ok(Input::HelpOn(args[0].to_string()))
        }
        "help" => w.exactly(0).map(|_| Input::Help),
        _ => return None,
    };
    Some(parsed)
}

fn parse_toom(cmd: &str, args: &[&str], rest: &str) -> Option<Result<Input, String>> {
    let bad = || Err(usage_error(cmd));
    let non_empty = args.iter().all(|a| !a.is_empty());
    let c = match cmd {
        "BCM" if !rest.trim().is_empty() => Command::Bcm {
            text: rest.to_string(),
        },
        "ATU" if args.is_empty() => Command::Atu,
        "OUT" if args.is_empty() => Command::Logout { how: Farewell::Out },
        "SRB" if !args.is_empty() && non_empty => Command::Srb {
            users: args.iter().map(|s| s.to_string()).collect(),
        },
        "SRM" => return Some(parse_srm(rest)),
        "RDM" => return Some(parse_rdm(rest)),
        "UDP" if args.len() == 2 && non_empty => Command::Udp {
            user: args[0].to_string(),
            file: args[1].to_string(),
        },
        "BCM" | "ATU" | "OUT" | "SRB" | "UDP" => return Some(bad()),
        _ => return None,
    };
    Some(Ok(Input::Server(c)))
}

fn parse_srm(rest: &str) -> Result<Input, String> {
    let Some((id, text)) = rest
        .split_once(' ')
        .filter(|(id, t)| !id.is_empty() && !t.trim().is_empty())
    else {
        return Err(usage_error("SRM"));
    };
    let room = id
        .parse::<u64>()
        .map_err(|_| text::ROOM_ID_NUMBER.to_string())?;
    Ok(Input::Server(Command::Srm {
        room,
        text: text.to_string(),
    }))
}

fn parse_rdm(rest: &str) -> Result<Input, String> {
    let Some((kind, since)) = rest
        .split_once(' ')
        .filter(|(k, s)| !k.is_empty() && !s.trim().is_empty())
    else {
        return Err(usage_error("RDM"));
    };
    if kind != "b" && kind != "s" {
        return Err(text::BAD_MESSAGE_TYPE.to_string());
    }
    if crate::timefmt::parse(since).is_none() {
        return Err(text::BAD_TIMESTAMP.to_string());
    }
    Ok(Input::Server(Command::Rdm {
        kind: kind.to_string(),
        since: since.to_string(),
    }))
}

fn parse_forum(cmd: &str, args: &[&str], rest: &str) -> Result<Input, String> {
    let bad = || usage_error(cmd);
    let n = args.len();
    let ok_words = args.iter().all(|a| !a.is_empty());
    let word = |i: usize| args[i].to_string();
    let number = |s: &str| s.parse::<u64>().map_err(|_| bad());
    let text_from = |k: usize| -> Option<String> {
        let t = rest.splitn(k + 1, ' ').nth(k)?;
        (!t.trim().is_empty()).then(|| t.to_string())
    };
    let c = match cmd {
        "CRT" if n == 1 && ok_words => Command::Crt { title: word(0) },
        "MSG" if n >= 2 && !args[0].is_empty() => Command::Msg {
            title: word(0),
            text: text_from(1).ok_or_else(bad)?,
        },
        "DLT" if n == 2 && ok_words => Command::Dlt {
            title: word(0),
            n: number(args[1])?,
        },
        "EDT" if n >= 3 && !args[0].is_empty() => Command::Edt {
            title: word(0),
            n: number(args[1])?,
            text: text_from(2).ok_or_else(bad)?,
        },
        "LST" if n == 0 => Command::Lst,
        "RDT" if n == 1 && ok_words => Command::Rdt { title: word(0) },
        "UPD" if n == 2 && ok_words => Command::Upd {
            title: word(0),
            file: word(1),
            size: 0,
        },
        "DWN" if n == 2 && ok_words => Command::Dwn {
            title: word(0),
            file: word(1),
        },
        "RMV" if n == 1 && ok_words => Command::Rmv { title: word(0) },
        "XIT" if n == 0 => Command::Logout { how: Farewell::Xit },
        "SHT" if n == 1 && ok_words => Command::Sht { password: word(0) },
        c if FORUM.contains(&c) => return Err(bad()),
        _ => return Err(text::INVALID_COMMAND.to_string()),
    };
    // A title becomes a file name on the server: refuse what could leave its folder.
    match &c {
        Command::Crt { title }
        | Command::Msg { title, .. }
        | Command::Dlt { title, .. }
        | Command::Edt { title, .. }
        | Command::Rdt { title }
        | Command::Upd { title, .. }
        | Command::Dwn { title, .. }
        | Command::Rmv { title }
            if !crate::names::valid_name(title) =>
        {
            Err(text::invalid_title(title))
        }
        _ => Ok(Input::Server(c)),
    }
}

#[cfg(test)]
#[path = "commands_tests.rs"]
mod tests;
