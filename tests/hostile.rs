//! Hostile clients (BEHAVIOUR section 6): flood control (the per-connection command rate
//! limit and the per-address login throttle), passwords at rest, garbage on the wire,
//! a corpus of hostile file names and thread titles for every command that takes one, and
//! property-based fuzzing of the protocol decoder and the client's command parser.
//!
//! Proptest runs 256 cases per property by default; `PROPTEST_CASES=100000 cargo test
//! --release --test hostile` runs the long fuzz.

mod common;

use chinwag::client::commands::{self, Input};
use chinwag::protocol::{self, ClientMsg, Command, Event, Farewell, Request, ServerMsg, Then};
use chinwag::text;
use common::{Client, ServerProc, TestServer, CREDENTIALS, WAIT};
use proptest::prelude::*;
use std::io::Cursor;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

// ---------------------------------------------------------------------------------------
// The command rate limit.

/// Sends `n` commands without waiting, then reads the `n` responses in order.
fn pipeline(c: &mut Client, n: usize, cmd: impl Fn(usize) -> Command) -> Vec<protocol::Response> {
    let ids: Vec<u64> = (0..n).map(|i| c.send(cmd(i))).collect();
    ids.into_iter().map(|id| c.wait(id)).collect()
}

#[test]
fn over_the_rate_limit_commands_are_refused_and_not_executed() {
    let s = TestServer::with(|c| {
        c.rate_limit = 5;
        c.rate_burst = 10;
    });
    // Logging in takes 3 of the 10 tokens.
    let mut c = Client::login(s.addr, "yoda", "wise");
    let replies = pipeline(&mut c, 40, |i| Command::Bcm {
        text: format!("flood {i}"),
    });
    let done: Vec<_> = replies.iter().filter(|r| r.ok).collect();
    let refused = replies
        .iter()
        .filter(|r| r.lines == [text::TOO_MANY_COMMANDS])
        .count();
    assert_eq!(done.len() + refused, 40);
    assert!(done.len() >= 7, "the burst is honoured: {}", done.len());
    assert!(refused >= 20, "the excess is refused: {refused}");
    // Only what was done is in the log, numbered without gaps.
    let log = std::fs::read_to_string(s.path("messagelog.txt")).unwrap();
    assert_eq!(log.lines().count(), done.len());
    for (i, line) in log.lines().enumerate() {
        assert!(line.starts_with(&format!("{}; ", i + 1)), "{line}");
    }
    // The bucket refills at the rate: a pause earns a command again.
    let deadline = Instant::now() + WAIT;
    while !c.call(Command::WhoElse).ok {
        assert!(Instant::now() < deadline, "the bucket never refilled");
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "rate limit 5/s burst 10: {} of 40 pipelined BCMs done, {refused} refused",
        done.len()
    );
}

#[test]
fn rate_limit_zero_is_off() {
    let s = TestServer::with(|c| c.rate_limit = 0);
    let mut c = Client::login(s.addr, "yoda", "wise");
    let replies = pipeline(&mut c, 2000, |_| Command::WhoElse);
    assert!(replies.iter().all(|r| r.lines == [text::NO_OTHER_USERS]));
}

#[test]
fn default_rate_limit_lets_a_fast_script_through() {
    let s = TestServer::start();
    let mut c = Client::login(s.addr, "yoda", "wise");
    let replies = pipeline(&mut c, 150, |_| Command::WhoElse);
    assert!(
        replies.iter().all(|r| r.ok),
        "a 150-line script is not a flood"
    );
}

#[test]
fn a_flood_that_never_reads_is_disconnected_and_the_server_serves_on() {
    let s = TestServer::with(|c| {
        c.rate_limit = 10;
        c.rate_burst = 10;
    });
    let mut flooder = Client::login(s.addr, "vader", "sithlord$9");
    // Refusals pile up in the flooder's outbox while it does not read; past the outbox
    // it is cut off.
    let line = protocol::encode(&Request {
        id: 1,
        cmd: Command::WhoElse,
    });
    let burst: Vec<u8> = line.repeat(20_000);
    let mut sent = 0;
    for _ in 0..50 {
        if flooder.send_raw(&burst).is_err() {
            break;
        }
        sent += 20_000;
    }
    let mut yoda = Client::login(s.addr, "yoda", "wise");
    assert_eq!(yoda.lines(Command::WhoElse).len(), 1);
    common::eventually("the flooder to be dropped", || s.connections() == 1);
    println!("flooder sent {sent} commands before it was dropped");
}

// ---------------------------------------------------------------------------------------
// The login throttle.

fn password_step(c: &mut Client, user: &str, pw: &str) -> protocol::Response {
    c.call(Command::Hello {
        udp_port: 0,
        p2p_port: 0,
    });
    let r = c.call(Command::Username { name: user.into() });
    assert_eq!(r.then, Then::AskPassword);
    c.call(Command::Password {
        password: pw.into(),
    })
}

#[test]
fn failed_logins_from_one_address_are_throttled_without_locking_the_account() {
    let s = TestServer::with(|c| {
        c.login_throttle = 2;
        c.attempts = 3;
    });
    let attacker = ip("127.0.0.2");
    let mut a = Client::connect_from(attacker, s.addr);
    assert_eq!(
        password_step(&mut a, "yoda", "guess1").lines,
        [text::INVALID_PASSWORD_RETRY]
    );
    let r = a.call(Command::Password {
        password: "guess2".into(),
    });
    assert_eq!(r.lines, [text::INVALID_PASSWORD_RETRY]);
    // The address has used its failures: even the right password is refused unchecked.
    let r = a.call(Command::Password {
        password: "wise".into(),
    });
    assert_eq!(r.lines, [text::TOO_MANY_LOGINS]);
    assert_eq!(r.then, Then::Exit { code: 1 });
    // Many more connections from the address: all refused, none counted against yoda
    // (a third counted failure would have locked the account).
    for (i, user) in ["yoda", "luke", "yoda", "hans", "yoda"].iter().enumerate() {
        let mut a = Client::connect_from(attacker, s.addr);
        let r = password_step(&mut a, user, &format!("guess{i}"));
        assert_eq!(r.lines, [text::TOO_MANY_LOGINS], "{user}");
    }
    // yoda, from another address, is not locked out.
    let mut real = Client::connect_from(ip("127.0.0.3"), s.addr);
    assert_eq!(real.try_login("yoda", "wise").then, Then::LoggedIn);
    // Another address still has its own allowance.
    let mut other = Client::connect_from(ip("127.0.0.4"), s.addr);
    assert_eq!(
        password_step(&mut other, "luke", "nope").lines,
        [text::INVALID_PASSWORD_RETRY]
    );
}

#[test]
fn the_throttle_counts_only_failures() {
    let s = TestServer::with(|c| c.login_throttle = 1);
    for _ in 0..30 {
        let mut c = Client::login(s.addr, "yoda", "wise");
        c.call(Command::Logout {
            how: Farewell::Logout,
        });
    }
    // Many users at once from one address: all welcomed.
    let clients: Vec<Client> = ["hans", "luke", "vader", "leia"]
        .iter()
        .zip([
            "indiana#jones",
            "lightsaber@#",
            "sithlord$9",
            "hairbuns*united",
        ])
        .map(|(u, p)| Client::login(s.addr, u, p))
        .collect();
    assert_eq!(clients.len(), 4);
    let mut c = Client::connect(s.addr);
    assert_eq!(
        password_step(&mut c, "obiwan", "bad").lines,
        [text::INVALID_PASSWORD_RETRY]
    );
    let r = c.call(Command::Password {
        password: "(jedimaster)".into(),
    });
    assert_eq!(r.lines, [text::TOO_MANY_LOGINS]);
}

#[test]
fn the_throttle_off_leaves_only_the_account_lockout() {
    let s = TestServer::with(|c| {
        c.login_throttle = 0;
        c.attempts = 5;
    });
    for user in ["hans", "yoda", "luke", "vader", "leia", "obiwan"] {
        let mut c = Client::connect(s.addr);
        assert_eq!(
            password_step(&mut c, user, "bad").lines,
            [text::INVALID_PASSWORD_RETRY]
        );
        for _ in 0..3 {
            let r = c.call(Command::Password {
                password: "bad".into(),
            });
            assert_eq!(r.lines, [text::INVALID_PASSWORD_RETRY]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Passwords at rest and in the server's output.

#[test]
fn sign_ups_are_hashed_plain_lines_still_work_and_passwords_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("credentials.txt"), CREDENTIALS).unwrap();
    let secret = "Zq9-unguessable";
    {
        let server = ServerProc::start(dir.path(), &["--debug"]);
        let mut c = Client::connect(server.addr);
        assert_eq!(c.try_login("newbie", secret).then, Then::LoggedIn);
        let mut bad = Client::connect(server.addr);
        assert_eq!(
            password_step(&mut bad, "newbie", "Wrong-pass-1").lines,
            [text::INVALID_PASSWORD_RETRY]
        );
        Client::login(server.addr, "yoda", "wise");
        drop(bad);
        drop(c);
        // Everything up to newbie's logout has been printed.
        let mut printed = Vec::new();
        let deadline = Instant::now() + WAIT;
        while !printed.contains(&text::logged_out("newbie")) {
            assert!(Instant::now() < deadline, "{printed:?}");
            printed.extend(server.printed());
            std::thread::sleep(Duration::from_millis(10));
        }
        let printed = printed.join("\n");
        for pw in [secret, "Wrong-pass-1", "wise"] {
            assert!(!printed.contains(pw), "{pw} printed: {printed}");
        }
    }
    let creds = std::fs::read_to_string(dir.path().join("credentials.txt")).unwrap();
    assert!(!creds.contains(secret));
    let last = creds.lines().last().unwrap();
    assert!(
        last.starts_with("newbie $argon2id$v=19$m=19456,t=2,p=1$"),
        "{last}"
    );
    // After a restart the hash verifies, and the plain lines still work.
    let server = ServerProc::start(dir.path(), &[]);
    Client::login(server.addr, "newbie", secret);
    Client::login(server.addr, "hans", "indiana#jones");
    let mut c = Client::connect(server.addr);
    assert_eq!(
        password_step(&mut c, "newbie", "indiana#jones").lines,
        [text::INVALID_PASSWORD_RETRY]
    );
}

// ---------------------------------------------------------------------------------------
// Garbage on the wire.

#[test]
fn garbage_gets_an_error_or_a_disconnect_and_the_server_serves_on() {
    let s = TestServer::start();
    let long = vec![b'x'; protocol::MAX_LINE + 10];
    let mut binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    binary.push(b'\n');
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("invalid json", b"{not json\n".to_vec()),
        ("wrong shape", b"{\"id\":1,\"cmd\":\"nope\"}\n".to_vec()),
        (
            "wrong types",
            b"{\"id\":\"x\",\"cmd\":\"bcm\",\"text\":5}\n".to_vec(),
        ),
        ("binary", binary),
        ("over-long line", long),
        ("frame header", b"{\"bin\":100}\n".to_vec()),
        ("nul bytes", vec![0u8; 100]),
    ];
    for (what, bytes) in cases {
        for logged_in in [false, true] {
            let mut c = if logged_in {
                Client::login(s.addr, "luke", "lightsaber@#")
            } else {
                Client::connect(s.addr)
            };
            let _ = c.send_raw(&bytes);
            let _ = c.send_raw(b"\n");
            // Either an error event, or the connection ends; never a hang or a crash.
            match c.read() {
                Some(ServerMsg::Event(
                    Event::Text { text: t, .. } | Event::Broadcast { text: t },
                )) => {
                    assert_eq!(t, text::PROTOCOL_ERROR, "{what}")
                }
                Some(ServerMsg::Event(Event::Error { .. })) | None => {}
                other => panic!("{what}: unexpected {other:?}"),
            }
            drop(c);
            let mut yoda = Client::login(s.addr, "yoda", "wise");
            assert!(yoda.call(Command::WhoElse).ok, "{what}");
            drop(yoda);
            common::eventually("the connections to close", || s.connections() == 0);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Hostile names.

fn hostile_names() -> Vec<String> {
    vec![
        "../x".into(),
        "/etc/passwd".into(),
        "a/../../b".into(),
        "..\\x".into(),
        "x\0y".into(),
        "\0".into(),
        "a".repeat(10_000),
        "".into(),
        ".".into(),
        "..".into(),
        ".hidden".into(),
        "../../../../../../tmp/chinwag-escape".into(),
        "sub/dir".into(),
        "trailing/".into(),
        "a b".into(),
        "new\nline".into(),
        "tab\tx".into(),
        "caf\u{e9}".into(),
        "\u{202e}rtl".into(),
    ]
}

/// Every command that takes a thread title or a file name refuses every hostile name,
/// sent straight over the protocol (the client's own checks bypassed), and nothing is
/// created outside the data directory.
#[test]
fn hostile_names_are_refused_by_every_command_that_takes_one() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("credentials.txt"), CREDENTIALS).unwrap();
    let s = TestServer::with(|c| {
        c.data_dir = data.clone();
        c.credentials = data.join("credentials.txt");
        c.rate_limit = 0; // ~200 requests in a burst: each must meet the name check
    });
    let mut yoda = Client::login(s.addr, "yoda", "wise");
    let _hans = Client::login(s.addr, "hans", "indiana#jones");
    assert_eq!(
        yoda.lines(Command::Crt {
            title: "good".into()
        }),
        ["Thread good created"]
    );
    assert!(yoda.upload("good", "ok.txt", b"fine").ok);
    let mut sent = 0;
    for name in hostile_names() {
        let title_cmds = vec![
            Command::Crt {
                title: name.clone(),
            },
            Command::Msg {
                title: name.clone(),
                text: "hi".into(),
            },
            Command::Dlt {
                title: name.clone(),
                n: 1,
            },
            Command::Edt {
                title: name.clone(),
                n: 1,
                text: "hi".into(),
            },
            Command::Rdt {
                title: name.clone(),
            },
            Command::Rmv {
                title: name.clone(),
            },
            Command::Dwn {
                title: name.clone(),
                file: "ok.txt".into(),
            },
            Command::Upd {
                title: name.clone(),
                file: "f.txt".into(),
                size: 4,
            },
        ];
        let file_cmds = vec![
            Command::Dwn {
                title: "good".into(),
                file: name.clone(),
            },
            Command::Upd {
                title: "good".into(),
                file: name.clone(),
                size: 4,
            },
            Command::Udp {
                user: "hans".into(),
                file: name.clone(),
            },
        ];
        for cmd in title_cmds.into_iter().chain(file_cmds) {
            let what = format!("{cmd:?}");
            let r = yoda.call(cmd);
            sent += 1;
            assert!(
                !r.ok,
                "accepted: {}: {:?}",
                &what[..what.len().min(120)],
                r.lines
            );
            assert!(
                matches!(r.then, Then::Continue),
                "{}: {:?}",
                &what[..what.len().min(120)],
                r.then
            );
            assert_eq!(r.lines.len(), 1, "{:?}", r.lines);
            assert_ne!(r.lines[0], text::TOO_MANY_COMMANDS);
        }
    }
    // The server still works, and nothing appeared outside the data directory or in it.
    assert_eq!(
        yoda.lines(Command::Lst),
        ["The list of active threads:", "good"]
    );
    let outside: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, ["data"]);
    assert!(!Path::new("/tmp/chinwag-escape").exists());
    assert!(!Path::new("/x").exists() && !Path::new("/b").exists());
    let threads: Vec<_> = std::fs::read_dir(s.data("threads"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(threads, ["good"]);
    println!("hostile names: {sent} requests refused");
}

// ---------------------------------------------------------------------------------------
// Fuzzing: the protocol decoder and the client's command parser.

/// Decodes every line of `bytes` as the server does; must never panic.
fn decode_all(bytes: &[u8]) -> usize {
    let mut r = Cursor::new(bytes);
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        match protocol::read_msg::<_, ClientMsg>(&mut r, &mut buf) {
            Err(protocol::FrameError::Closed) | Err(protocol::FrameError::TooLong) => return n,
            _ => n += 1,
        }
        if n > 100_000 {
            return n;
        }
    }
}

/// A word from the characters names may use (so the client parser accepts it).
fn word() -> impl Strategy<Value = String> {
    "[A-Za-z0-9~!@#$%^&*_=+-][A-Za-z0-9~!@#$%^&*_=+.-]{0,15}"
}

/// Message text: printable, may hold spaces, not blank, no leading space (the parser
/// keeps text verbatim, but a text starting with a space would read as an empty word).
fn message_text() -> impl Strategy<Value = String> {
    "[!-~][ -~]{0,40}"
}

fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,30}",
        Just(String::new()),
        Just("\0".to_string()),
    ]
}

/// Any request, with arbitrary field contents.
fn arb_command() -> impl Strategy<Value = Command> {
    let s = any_string;
    prop_oneof![
        (any::<u16>(), any::<u16>())
            .prop_map(|(udp_port, p2p_port)| Command::Hello { udp_port, p2p_port }),
        s().prop_map(|name| Command::Username { name }),
        s().prop_map(|password| Command::Password { password }),
        s().prop_map(|password| Command::NewPassword { password }),
        (s(), s()).prop_map(|(to, text)| Command::Message { to, text }),
        s().prop_map(|text| Command::Broadcast { text }),
        Just(Command::WhoElse),
        any::<u64>().prop_map(|secs| Command::WhoElseSince { secs }),
        s().prop_map(|user| Command::Block { user }),
        s().prop_map(|user| Command::Unblock { user }),
        prop_oneof![
            Just(Farewell::Logout),
            Just(Farewell::Out),
            Just(Farewell::Xit)
        ]
        .prop_map(|how| Command::Logout { how }),
        s().prop_map(|text| Command::Bcm { text }),
        Just(Command::Atu),
        proptest::collection::vec(s(), 0..5).prop_map(|users| Command::Srb { users }),
        (any::<u64>(), s()).prop_map(|(room, text)| Command::Srm { room, text }),
        (s(), s()).prop_map(|(kind, since)| Command::Rdm { kind, since }),
        s().prop_map(|title| Command::Crt { title }),
        (s(), s()).prop_map(|(title, text)| Command::Msg { title, text }),
        (s(), any::<u64>()).prop_map(|(title, n)| Command::Dlt { title, n }),
        (s(), any::<u64>(), s()).prop_map(|(title, n, text)| Command::Edt { title, n, text }),
        Just(Command::Lst),
        s().prop_map(|title| Command::Rdt { title }),
        (s(), s(), any::<u64>()).prop_map(|(title, file, size)| Command::Upd { title, file, size }),
        (s(), s()).prop_map(|(title, file)| Command::Dwn { title, file }),
        s().prop_map(|title| Command::Rmv { title }),
        s().prop_map(|password| Command::Sht { password }),
        s().prop_map(|user| Command::StartPrivate { user }),
        (s(), any::<bool>()).prop_map(|(from, accept)| Command::PrivateAnswer {
            from,
            accept,
            fingerprint: None,
        }),
        Just(Command::Activity),
        (s(), s()).prop_map(|(user, file)| Command::Udp { user, file }),
    ]
}

/// A valid command line and the request the client must make of it.
fn arb_line() -> impl Strategy<Value = (String, Command)> {
    let (w, t) = (word, message_text);
    prop_oneof![
        (w(), t()).prop_map(|(u, x)| (
            format!("message {u} {x}"),
            Command::Message { to: u, text: x }
        )),
        t().prop_map(|x| (format!("broadcast {x}"), Command::Broadcast { text: x })),
        Just(("whoelse".to_string(), Command::WhoElse)),
        any::<u64>().prop_map(|n| (
            format!("whoelsesince {n}"),
            Command::WhoElseSince { secs: n }
        )),
        w().prop_map(|u| (format!("block {u}"), Command::Block { user: u })),
        w().prop_map(|u| (format!("unblock {u}"), Command::Unblock { user: u })),
        w().prop_map(|u| (
            format!("startprivate {u}"),
            Command::StartPrivate { user: u }
        )),
        Just((
            "logout".to_string(),
            Command::Logout {
                how: Farewell::Logout
            }
        )),
        Just(("OUT".to_string(), Command::Logout { how: Farewell::Out })),
        Just(("XIT".to_string(), Command::Logout { how: Farewell::Xit })),
        t().prop_map(|x| (format!("BCM {x}"), Command::Bcm { text: x })),
        Just(("ATU".to_string(), Command::Atu)),
        proptest::collection::vec(w(), 1..5)
            .prop_map(|us| (format!("SRB {}", us.join(" ")), Command::Srb { users: us })),
        (any::<u64>(), t())
            .prop_map(|(n, x)| (format!("SRM {n} {x}"), Command::Srm { room: n, text: x })),
        (
            prop_oneof![Just("b"), Just("s")],
            1u32..=28,
            0u32..12,
            2000i32..2100,
            0u32..24,
            0u32..60
        )
            .prop_map(|(k, d, m, y, h, mi)| {
                let months = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec",
                ];
                let since = format!("{d} {} {y} {h:02}:{mi:02}:07", months[m as usize]);
                (
                    format!("RDM {k} {since}"),
                    Command::Rdm {
                        kind: k.into(),
                        since,
                    },
                )
            }),
        w().prop_map(|x| (format!("CRT {x}"), Command::Crt { title: x })),
        (w(), t()).prop_map(|(x, y)| (format!("MSG {x} {y}"), Command::Msg { title: x, text: y })),
        (w(), any::<u64>())
            .prop_map(|(x, n)| (format!("DLT {x} {n}"), Command::Dlt { title: x, n })),
        (w(), any::<u64>(), t()).prop_map(|(x, n, y)| (
            format!("EDT {x} {n} {y}"),
            Command::Edt {
                title: x,
                n,
                text: y
            }
        )),
        Just(("LST".to_string(), Command::Lst)),
        w().prop_map(|x| (format!("RDT {x}"), Command::Rdt { title: x })),
        (w(), w()).prop_map(|(x, f)| (format!("DWN {x} {f}"), Command::Dwn { title: x, file: f })),
        w().prop_map(|x| (format!("RMV {x}"), Command::Rmv { title: x })),
        w().prop_map(|p| (format!("SHT {p}"), Command::Sht { password: p })),
        (w(), w()).prop_map(|(u, f)| (format!("UDP {u} {f}"), Command::Udp { user: u, file: f })),
    ]
}

proptest! {
    // Cases: 256 by default, PROPTEST_CASES to change. Failures are reported with their
    // minimal input (no regression files: tests/ has no lib.rs for proptest to find).
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        decode_all(&bytes);
    }

    #[test]
    fn decoder_never_panics_on_json_like_lines(
        body in "[{}\\[\\]\":,0-9a-z_ \\\\.eE+-]{0,200}",
        cmd in "(hello|username|password|new_password|message|bcm|srb|srm|rdm|crt|upd|dwn|udp|logout|x)",
    ) {
        let line = format!("{{\"id\":1,\"cmd\":\"{cmd}\",{body}\n{body}\n{{\"bin\":{body}}}\n");
        decode_all(line.as_bytes());
    }

    #[test]
    fn requests_round_trip_through_the_decoder(id in any::<u64>(), cmd in arb_command()) {
        let req = Request { id, cmd };
        let line = protocol::encode(&req);
        prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
        let mut r = Cursor::new(line);
        let mut buf = Vec::new();
        let back: ClientMsg = protocol::read_msg(&mut r, &mut buf).unwrap();
        prop_assert_eq!(back, ClientMsg::Request(req));
    }

    #[test]
    fn parser_never_panics(line in any::<String>()) {
        let _ = commands::parse(&line);
    }

    #[test]
    fn parser_never_panics_on_command_like_lines(
        cmd in "(message|broadcast|whoelse|whoelsesince|block|unblock|startprivate|private|stopprivate|logout|BCM|ATU|SRB|SRM|RDM|UDP|OUT|CRT|MSG|DLT|EDT|LST|RDT|UPD|DWN|RMV|XIT|SHT|help)",
        rest in "[ -~\u{e9}\u{0}\t]{0,40}",
    ) {
        let _ = commands::parse(&format!("{cmd} {rest}"));
        let _ = commands::parse(&format!("{cmd}{rest}"));
    }

    #[test]
    fn parser_turns_a_valid_line_into_its_command((line, want) in arb_line()) {
        match commands::parse(&line) {
            Ok(Input::Server(got)) => prop_assert_eq!(got, want, "{}", line),
            other => prop_assert!(false, "{line:?} gave {other:?}"),
        }
    }
}

#[test]
fn the_real_client_prints_the_throttle_refusal_and_exits_non_zero() {
    let s = TestServer::with(|c| c.login_throttle = 1);
    let dir = tempfile::tempdir().unwrap();
    let mut bin = common::Bin::connect(s.addr, dir.path());
    bin.expect("Username:");
    bin.send("yoda");
    bin.send("nope");
    bin.expect(text::INVALID_PASSWORD_RETRY);
    bin.send("wise");
    bin.expect(text::TOO_MANY_LOGINS);
    assert_ne!(bin.exit_code(), 0);
}
