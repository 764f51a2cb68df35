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
    let bad = || usage_error(cmd);
    let args: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split(' ').collect()
    };
    let words = |n: usize| -> Result<Vec<String>, String> {
        if args.len() == n && args.iter().all(|a| !a.is_empty()) {
            Ok(args.iter().map(|s| s.to_string()).collect())
        } else {
            Err(bad())
        }
    };
    // `k` words then a non-empty text that takes the rest of the line.
    let text_after = |k: usize| -> Result<(Vec<String>, String), String> {
        let parts: Vec<&str> = rest.splitn(k + 1, ' ').collect();
        if parts.len() == k + 1
            && parts[..k].iter().all(|w| !w.is_empty())
            && !parts[k].trim().is_empty()
        {
            let head = parts[..k].iter().map(|s| s.to_string()).collect();
            Ok((head, parts[k].to_string()))
        } else {
            Err(bad())
        }
    };
    let server = |c: Command| Ok(Input::Server(c));
    match cmd {
        "message" => {
            let (mut w, text) = text_after(1)?;
            server(Command::Message {
                to: w.remove(0),
                text,
            })
        }
        "broadcast" => server(Command::Broadcast {
            text: text_after(0)?.1,
        }),
        "whoelse" => words(0).and_then(|_| server(Command::WhoElse)),
        "whoelsesince" => {
            let w = words(1)?;
            let secs = w[0].parse::<u64>().map_err(|_| bad())?;
            server(Command::WhoElseSince { secs })
        }
        "block" => server(Command::Block {
            user: words(1)?.remove(0),
        }),
        "unblock" => server(Command::Unblock {
            user: words(1)?.remove(0),
        }),
        "logout" => words(0).and_then(|_| {
            server(Command::Logout {
                how: Farewell::Logout,
            })
        }),
        "startprivate" => server(Command::StartPrivate {
            user: words(1)?.remove(0),
        }),
        "private" => {
            let (mut w, text) = text_after(1)?;
            Ok(Input::Private {
                user: w.remove(0),
                text,
            })
        }
        "stopprivate" => Ok(Input::StopPrivate {
            user: words(1)?.remove(0),
        }),
        "help" if args.len() == 1 && crate::client::help::usage_of(args[0]).is_some() => {
            Ok(Input::HelpOn(args[0].to_string()))
        }
        "help" => words(0).map(|_| Input::Help),
        _ => parse_toom(cmd, &args, rest).unwrap_or_else(|| parse_forum(cmd, &args, rest)),
    }
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
mod tests {
    use super::*;

    fn cmd(line: &str) -> Command {
        match parse(line) {
            Ok(Input::Server(c)) => c,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn messages_keep_their_spaces() {
        assert_eq!(
            cmd("message hans Hey  Dude"),
            Command::Message {
                to: "hans".into(),
                text: "Hey  Dude".into()
            }
        );
        assert_eq!(
            cmd("BCM Hello world! COMP3331"),
            Command::Bcm {
                text: "Hello world! COMP3331".into()
            }
        );
        assert_eq!(
            cmd("EDT 3331 2 I PWNED Networks exam"),
            Command::Edt {
                title: "3331".into(),
                n: 2,
                text: "I PWNED Networks exam".into()
            }
        );
    }

    #[test]
    fn usage_errors_name_the_right_usage() {
        assert_eq!(
            parse("message hans").unwrap_err(),
            "Error. Usage: message <user> <message>"
        );
        assert_eq!(
            parse("whoelsesince soon").unwrap_err(),
            "Error. Usage: whoelsesince <seconds>"
        );
        assert_eq!(parse("LST 3331").unwrap_err(), "Incorrect syntax for LST");
        assert_eq!(parse("RDT").unwrap_err(), "Incorrect syntax for RDT");
        assert_eq!(
            parse("DLT 3331 one").unwrap_err(),
            "Incorrect syntax for DLT"
        );
        assert_eq!(parse("BCM ").unwrap_err(), "Error. Usage: BCM <message>");
        assert_eq!(parse("SRM x hi").unwrap_err(), text::ROOM_ID_NUMBER);
        assert_eq!(
            parse("RDM x 1 Jun 2022 16:00:00").unwrap_err(),
            text::BAD_MESSAGE_TYPE
        );
        assert_eq!(parse("RDM b yesterday").unwrap_err(), text::BAD_TIMESTAMP);
    }

    #[test]
    fn unknown_and_wrong_case_commands_are_invalid() {
        for line in ["whatsthetime", "HELLO", "bcm hi", "Logout"] {
            assert_eq!(parse(line).unwrap_err(), text::INVALID_COMMAND, "{line}");
        }
        assert_eq!(parse("").unwrap(), Input::Nothing);
    }

    #[test]
    fn rdm_accepts_the_three_time_forms() {
        for t in [
            "1 Jun 2022 16:01:20",
            "01 Jun 2022 16:01:20",
            "01/06/2022 16:01:20",
        ] {
            assert_eq!(
                cmd(&format!("RDM s {t}")),
                Command::Rdm {
                    kind: "s".into(),
                    since: t.into()
                }
            );
        }
    }

    #[test]
    fn srb_takes_many_users() {
        assert_eq!(
            cmd("SRB hans luke"),
            Command::Srb {
                users: vec!["hans".into(), "luke".into()]
            }
        );
        assert_eq!(
            parse("SRB").unwrap_err(),
            "Error. Usage: SRB <user> [<user> ...]"
        );
    }

    #[test]
    fn every_command_in_help_parses_or_names_its_usage() {
        for (name, _) in USAGE {
            let res = parse(name);
            assert!(
                res.is_ok() || res.as_ref().unwrap_err() != text::INVALID_COMMAND,
                "{name}"
            );
        }
    }
}
