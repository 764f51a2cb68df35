//! TOOM over real TCP: every row and error line of BEHAVIOUR section 3.2 except `UDP`,
//! the files of section 4 (messagelog.txt, SR_<id>_messagelog.txt, userlog.txt), the
//! tutor's checklist (assignments.md 2.8), concurrent BCM, restart and crash recovery.
//! Most tests talk the protocol (`Client`); a few drive the real `chinwag` binary.
//!
//! The million-line RDM timing is `#[ignore]`d; run it with
//! `cargo test --release --test toom -- --ignored --nocapture`.

mod common;

use common::password as pw;

use chinwag::client::commands;
use chinwag::protocol::{Command, Farewell, Then};
use chinwag::text;
use chinwag::timefmt;
use chrono::{DateTime, Local, TimeZone};
use common::{Bin, Client, ServerProc, TestServer, WAIT};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

const QUIET: Duration = Duration::from_millis(150);

fn login(addr: SocketAddr, user: &str) -> Client {
    Client::login(addr, user, pw(user))
}

/// Logs in telling the server this client receives UDP on `udp_port`.
fn login_udp(addr: SocketAddr, user: &str, udp_port: u16) -> Client {
    let mut c = Client::connect(addr);
    c.name = user.to_string();
    let r = c.call(Command::Hello {
        udp_port,
        p2p_port: 0,
    });
    assert_eq!(r.then, Then::AskUsername);
    let r = c.call(Command::Username { name: user.into() });
    assert_eq!(r.then, Then::AskPassword);
    let r = c.call(Command::Password {
        password: pw(user).into(),
    });
    assert_eq!(r.then, Then::LoggedIn, "{user}: {:?}", r.lines);
    c
}

/// The one line a command answers with.
fn one(c: &mut Client, line: &str) -> String {
    let lines = c.text_cmd(line);
    assert_eq!(lines.len(), 1, "{line}: {lines:?}");
    lines.into_iter().next().unwrap()
}

/// What the client prints for a line it refuses itself (no request is sent).
fn local_error(line: &str) -> String {
    match commands::parse(line) {
        Err(e) => e,
        Ok(i) => panic!("{line}: the client would send {i:?}"),
    }
}

/// Splits `PREFIX#N MIDDLE T.` into (N, T).
fn number_and_time(line: &str, prefix: &str, middle: &str) -> (u64, String) {
    let rest = line
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"));
    let (n, t) = rest
        .split_once(middle)
        .unwrap_or_else(|| panic!("{line:?} has no {middle:?}"));
    let t = t
        .strip_suffix('.')
        .unwrap_or_else(|| panic!("{line:?}: no full stop"));
    assert!(timefmt::parse(t).is_some(), "{line:?}: bad time {t:?}");
    assert_eq!(
        timefmt::format(&at(t)),
        t,
        "{line:?}: time not in D MMM form"
    );
    (n.parse().unwrap(), t.to_string())
}

/// `BCM TEXT`: the message number and time from the confirmation.
fn bcm(c: &mut Client, body: &str) -> (u64, String) {
    let line = one(c, &format!("BCM {body}"));
    number_and_time(&line, "Broadcast message, #", " broadcast at ")
}

/// `SRM ID TEXT`: the message number and time from the confirmation.
fn srm(c: &mut Client, room: u64, body: &str) -> (u64, String) {
    let line = one(c, &format!("SRM {room} {body}"));
    number_and_time(&line, "Separate room message, #", " issued at ")
}

fn at(t: &str) -> DateTime<Local> {
    timefmt::parse(t).unwrap_or_else(|| panic!("bad time {t:?}"))
}

/// `t` moved by `secs`, in the shown form.
fn shift(t: &str, secs: i64) -> String {
    timefmt::format(&(at(t) + chrono::Duration::seconds(secs)))
}

/// Waits until the clock has passed the second `t`, so the next message is strictly later.
fn after_second(t: &str) {
    let deadline = Instant::now() + WAIT;
    while Local::now().timestamp() <= at(t).timestamp() {
        assert!(Instant::now() < deadline, "clock stuck");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A log file's lines split into (number, time, user, text).
fn log_rows(path: &Path) -> Vec<(u64, String, String, String)> {
    let body = read(path);
    assert!(
        body.is_empty() || body.ends_with('\n'),
        "torn last line in {}",
        path.display()
    );
    body.lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, "; ").collect();
            assert_eq!(f.len(), 4, "bad log line {l:?}");
            let n = f[0]
                .parse()
                .unwrap_or_else(|_| panic!("bad number in {l:?}"));
            assert_eq!(timefmt::format(&at(f[1])), f[1], "bad time in {l:?}");
            (n, f[1].into(), f[2].into(), f[3].into())
        })
        .collect()
}

/// Logs `users` in, in order, and reads the presence notices each gets about the later
/// ones, so every client starts with nothing pending.
fn team<const N: usize>(addr: SocketAddr, users: [&str; N]) -> [Client; N] {
    let mut clients: Vec<Client> = users.iter().map(|u| login(addr, u)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        for later in &users[i + 1..] {
            assert_eq!(c.text(), format!("{later} logged in"));
        }
    }
    clients.try_into().ok().unwrap()
}

// ---------------------------------------------------------------------------------
// BCM

#[test]
fn bcm_confirms_logs_exactly_and_delivers_live_to_the_others_only() {
    let s = TestServer::start();
    let [mut yoda, mut hans, mut luke] = team(s.addr, ["yoda", "hans", "luke"]);

    let (n, t) = bcm(&mut yoda, "Hello world! COMP3331");
    assert_eq!(n, 1);
    assert_eq!(hans.text(), "yoda: Hello world! COMP3331");
    assert_eq!(luke.text(), "yoda: Hello world! COMP3331");
    yoda.quiet_for(QUIET);
    assert_eq!(
        read(&s.path("messagelog.txt")),
        format!("1; {t}; yoda; Hello world! COMP3331\n")
    );

    // Numbers continue, whoever sends; `;` and spaces in the text are kept as typed.
    let (n, t2) = bcm(&mut hans, "do; or do not,  there is no try");
    assert_eq!(n, 2);
    assert_eq!(yoda.text(), "hans: do; or do not,  there is no try");
    assert_eq!(luke.text(), "hans: do; or do not,  there is no try");
    hans.quiet_for(QUIET);
    assert_eq!(
        read(&s.path("messagelog.txt")),
        format!(
            "1; {t}; yoda; Hello world! COMP3331\n2; {t2}; hans; do; or do not,  there is no try\n"
        )
    );

    // The tutor: Hans reads it back with RDM b.
    let lines = hans.text_cmd("RDM b 1 Jun 2022 21:39:00");
    assert_eq!(
        lines,
        [
            "Broadcast messages since 1 Jun 2022 21:39:00:".to_string(),
            format!("#1; yoda: Hello world! COMP3331 at {t}."),
            format!("#2; hans: do; or do not,  there is no try at {t2}."),
        ]
    );
}

#[test]
fn bcm_without_text_is_refused_by_the_client_and_by_the_server() {
    for line in ["BCM", "BCM ", "BCM  "] {
        assert_eq!(local_error(line), "Error. Usage: BCM <message>", "{line:?}");
    }
    let s = TestServer::start();
    let [mut yoda, mut hans] = team(s.addr, ["yoda", "hans"]);
    for blank in ["", "  "] {
        let r = yoda.call(Command::Bcm { text: blank.into() });
        assert_eq!(r.lines, ["Error. Usage: BCM <message>"]);
        assert!(!r.ok);
    }
    hans.quiet_for(QUIET);
    assert_eq!(read(&s.path("messagelog.txt")), "");
    assert_eq!(bcm(&mut yoda, "now").0, 1);
}

#[test]
fn bcm_skips_users_who_blocked_the_sender_but_still_logs_and_confirms() {
    let s = TestServer::start();
    let [mut yoda, mut hans, mut luke] = team(s.addr, ["yoda", "hans", "luke"]);
    assert_eq!(one(&mut hans, "block yoda"), "yoda is blocked");
    let lines = yoda.text_cmd("BCM Hello");
    assert_eq!(
        lines.len(),
        1,
        "the sender gets only the confirmation: {lines:?}"
    );
    assert!(lines[0].starts_with("Broadcast message, #1 broadcast at "));
    assert_eq!(luke.text(), "yoda: Hello");
    hans.quiet_for(QUIET);
    assert_eq!(log_rows(&s.path("messagelog.txt")).len(), 1);
}

#[test]
fn broadcast_and_bcm_share_one_numbered_log() {
    let s = TestServer::start();
    let mut yoda = login(s.addr, "yoda");
    let mut hans = login(s.addr, "hans");
    assert!(yoda.text_cmd("broadcast first").is_empty());
    assert_eq!(hans.text(), "yoda: first");
    assert_eq!(bcm(&mut yoda, "second").0, 2);
    assert_eq!(hans.text(), "yoda: second");
    let rows = log_rows(&s.path("messagelog.txt"));
    let got: Vec<(u64, &str)> = rows.iter().map(|r| (r.0, r.3.as_str())).collect();
    assert_eq!(got, [(1, "first"), (2, "second")]);
}

// ---------------------------------------------------------------------------------
// ATU and userlog.txt

/// userlog.txt's time for `user`.
fn userlog_time(s: &TestServer, user: &str) -> String {
    let body = read(&s.path("userlog.txt"));
    let line = body
        .lines()
        .find(|l| l.split("; ").nth(2) == Some(user))
        .unwrap_or_else(|| panic!("{user} not in userlog.txt: {body:?}"));
    line.split("; ").nth(1).unwrap().to_string()
}

#[test]
fn atu_lists_other_visible_active_users_with_ip_udp_port_and_login_time() {
    let s = TestServer::start();
    let mut yoda = login_udp(s.addr, "yoda", 8000);
    assert_eq!(one(&mut yoda, "ATU"), text::NO_OTHER_ACTIVE);
    assert_eq!(text::NO_OTHER_ACTIVE, "no other active user");

    let mut hans = login_udp(s.addr, "hans", 8001);
    let mut luke = login_udp(s.addr, "luke", 8002);
    let (th, tl) = (userlog_time(&s, "hans"), userlog_time(&s, "luke"));
    assert_eq!(
        yoda.text_cmd("ATU"),
        [
            format!("hans, 127.0.0.1, 8001, active since {th}."),
            format!("luke, 127.0.0.1, 8002, active since {tl}."),
        ]
    );
    let ty = userlog_time(&s, "yoda");
    assert_eq!(
        hans.text_cmd("ATU"),
        [
            format!("yoda, 127.0.0.1, 8000, active since {ty}."),
            format!("luke, 127.0.0.1, 8002, active since {tl}."),
        ]
    );

    // luke blocks yoda: yoda can no longer see luke; luke still sees yoda.
    assert_eq!(one(&mut luke, "block yoda"), "yoda is blocked");
    assert_eq!(
        yoda.text_cmd("ATU"),
        [format!("hans, 127.0.0.1, 8001, active since {th}.")]
    );
    assert_eq!(luke.text_cmd("ATU").len(), 2);

    // Someone who left is no longer active.
    hans.call(Command::Logout { how: Farewell::Out });
    assert_eq!(one(&mut yoda, "ATU"), text::NO_OTHER_ACTIVE);
}

#[test]
fn userlog_shows_ip_and_udp_port_and_out_renumbers_it_but_keeps_messages() {
    let s = TestServer::start();
    let mut yoda = login_udp(s.addr, "yoda", 8000);
    let (n, t) = bcm(&mut yoda, "do or do not, there is no try");
    assert_eq!(n, 1);
    let mut hans = login_udp(s.addr, "hans", 8001);
    assert_eq!(yoda.text(), "hans logged in");
    let (ty, th) = (userlog_time(&s, "yoda"), userlog_time(&s, "hans"));
    assert_eq!(
        read(&s.path("userlog.txt")),
        format!("1; {ty}; yoda; 127.0.0.1; 8000\n2; {th}; hans; 127.0.0.1; 8001\n")
    );

    let r = yoda.call(Command::Logout { how: Farewell::Out });
    assert_eq!(r.lines, ["Bye, yoda!"]);
    assert_eq!(r.then, Then::Exit { code: 0 });
    assert_eq!(hans.text(), "yoda logged out");
    assert_eq!(
        read(&s.path("userlog.txt")),
        format!("1; {th}; hans; 127.0.0.1; 8001\n")
    );
    assert_eq!(
        read(&s.path("messagelog.txt")),
        format!("1; {t}; yoda; do or do not, there is no try\n")
    );
    assert_eq!(hans.text_cmd("RDM b 1 Jun 2022 21:39:00").len(), 2);
    assert_eq!(one(&mut hans, "ATU"), text::NO_OTHER_ACTIVE);
}

#[test]
fn userlog_is_emptied_at_start_up() {
    let s = TestServer::start();
    let _yoda = login_udp(s.addr, "yoda", 8000);
    assert!(!read(&s.path("userlog.txt")).is_empty());
    let dir = s.stop();
    let s = TestServer::in_dir(dir, |_| {});
    assert_eq!(read(&s.path("userlog.txt")), "");
}

// ---------------------------------------------------------------------------------
// SRB

#[test]
fn srb_errors_in_the_tutors_order() {
    let s = TestServer::start();
    let mut yoda = login(s.addr, "yoda");
    assert_eq!(local_error("SRB"), "Error. Usage: SRB <user> [<user> ...]");
    assert_eq!(one(&mut yoda, "SRB yoda"), text::ROOM_SELF_ONLY);
    assert_eq!(
        text::ROOM_SELF_ONLY,
        "Error. You cannot build a separate room with yourself only"
    );
    assert_eq!(one(&mut yoda, "SRB yoda yoda"), text::ROOM_SELF_ONLY);
    assert_eq!(one(&mut yoda, "SRB hans"), "Error. hans is offline");
    assert_eq!(one(&mut yoda, "SRB bob"), "Error. bob does not exist");
    // A missing user is named even when an offline one comes first.
    assert_eq!(one(&mut yoda, "SRB hans bob"), "Error. bob does not exist");
    let _hans = login(s.addr, "hans");
    assert_eq!(one(&mut yoda, "SRB hans luke"), "Error. luke is offline");
    // Nothing was created by the failures.
    assert_eq!(
        one(&mut yoda, "SRB hans"),
        "Separate chat room has been created, room ID: 1, users in this room: yoda, hans"
    );
}

#[test]
fn srb_creates_a_room_tells_online_members_and_one_set_gets_one_room() {
    let s = TestServer::start();
    let [mut yoda, mut hans, mut luke] = team(s.addr, ["yoda", "hans", "luke"]);

    assert_eq!(
        yoda.text_cmd("SRB hans"),
        ["Separate chat room has been created, room ID: 1, users in this room: yoda, hans"]
    );
    assert_eq!(
        hans.text(),
        "You have been added to separate room 1 by yoda (users: yoda, hans)"
    );
    luke.quiet_for(QUIET);
    yoda.quiet_for(QUIET);

    // The same set, whoever builds it and in whatever order.
    let exists = "a separate room (ID: 1) already created for these users";
    assert_eq!(one(&mut hans, "SRB yoda"), exists);
    assert_eq!(one(&mut yoda, "SRB hans"), exists);
    assert_eq!(one(&mut yoda, "SRB hans yoda hans"), exists);

    assert_eq!(
        one(&mut luke, "SRB hans yoda"),
        "Separate chat room has been created, room ID: 2, users in this room: luke, hans, yoda"
    );
    let notice = "You have been added to separate room 2 by luke (users: luke, hans, yoda)";
    assert_eq!(hans.text(), notice);
    assert_eq!(yoda.text(), notice);
    assert_eq!(
        one(&mut yoda, "SRB luke hans"),
        "a separate room (ID: 2) already created for these users"
    );
    assert_eq!(
        one(&mut hans, "SRB luke"),
        "Separate chat room has been created, room ID: 3, users in this room: hans, luke"
    );
    assert_eq!(
        luke.text(),
        "You have been added to separate room 3 by hans (users: hans, luke)"
    );
}

#[test]
fn srb_cannot_see_a_user_who_blocked_the_issuer() {
    let s = TestServer::start();
    let [mut yoda, mut hans] = team(s.addr, ["yoda", "hans"]);
    assert_eq!(one(&mut hans, "block yoda"), "yoda is blocked");
    assert_eq!(one(&mut yoda, "SRB hans"), "Error. hans is offline");
    hans.quiet_for(QUIET);
}

// ---------------------------------------------------------------------------------
// SRM

#[test]
fn srm_errors() {
    assert_eq!(local_error("SRM"), "Error. Usage: SRM <room id> <message>");
    assert_eq!(
        local_error("SRM 1"),
        "Error. Usage: SRM <room id> <message>"
    );
    for line in ["SRM x Hi", "SRM -1 Hi", "SRM 1.5 Hi", "SRM one Hi, Hans"] {
        assert_eq!(
            local_error(line),
            "Error. Room ID must be a number",
            "{line}"
        );
    }
    let s = TestServer::start();
    let [mut yoda, mut hans, mut luke] = team(s.addr, ["yoda", "hans", "luke"]);
    assert_eq!(
        one(&mut yoda, "SRM 1 Hi, Hans"),
        "The separate room does not exist"
    );
    assert!(one(&mut yoda, "SRB hans").ends_with("room ID: 1, users in this room: yoda, hans"));
    assert_eq!(
        one(&mut luke, "SRM 1 let me in"),
        "You are not in this separate room chat"
    );
    let r = yoda.call(Command::Srm {
        room: 1,
        text: " ".into(),
    });
    assert_eq!(r.lines, ["Error. Usage: SRM <room id> <message>"]);
    // The tutor's `SRM 2 Hi, Hans`: room 2 does not exist.
    assert_eq!(
        one(&mut yoda, "SRM 2 Hi, Hans"),
        "The separate room does not exist"
    );
    assert_eq!(
        one(&mut yoda, "SRM 0 Hi, Hans"),
        "The separate room does not exist"
    );
    assert_eq!(
        hans.text(),
        "You have been added to separate room 1 by yoda (users: yoda, hans)"
    );
    hans.quiet_for(QUIET);
    assert_eq!(read(&s.path("SR_1_messagelog.txt")), "");
}

#[test]
fn srm_confirms_logs_and_reaches_other_online_members_only() {
    let s = TestServer::start();
    let [mut yoda, mut hans, mut luke, mut leia] = team(s.addr, ["yoda", "hans", "luke", "leia"]);
    one(&mut yoda, "SRB hans luke");
    let notice = "You have been added to separate room 1 by yoda (users: yoda, hans, luke)";
    assert_eq!(hans.text(), notice);
    assert_eq!(luke.text(), notice);

    let (n, t1) = srm(&mut yoda, 1, "Hi, Hans");
    assert_eq!(n, 1);
    assert_eq!(hans.text(), "room-1: yoda: Hi, Hans");
    assert_eq!(luke.text(), "room-1: yoda: Hi, Hans");
    yoda.quiet_for(QUIET);
    leia.quiet_for(QUIET);

    let (n, t2) = srm(&mut hans, 1, "Hello; master");
    assert_eq!(n, 2);
    assert_eq!(yoda.text(), "room-1: hans: Hello; master");
    assert_eq!(luke.text(), "room-1: hans: Hello; master");
    hans.quiet_for(QUIET);

    // luke blocks yoda: yoda's room messages no longer reach luke, but are logged.
    assert_eq!(one(&mut luke, "block yoda"), "yoda is blocked");
    let (n, t3) = srm(&mut yoda, 1, "still here");
    assert_eq!(n, 3);
    assert_eq!(hans.text(), "room-1: yoda: still here");
    luke.quiet_for(QUIET);

    // Every message is in the room's log, none in the broadcast log.
    assert_eq!(
        read(&s.path("SR_1_messagelog.txt")),
        format!(
            "1; {t1}; yoda; Hi, Hans\n2; {t2}; hans; Hello; master\n3; {t3}; yoda; still here\n"
        )
    );
    assert_eq!(read(&s.path("messagelog.txt")), "");
}

#[test]
fn rooms_are_numbered_per_room_in_their_own_files() {
    let s = TestServer::start();
    let mut yoda = login(s.addr, "yoda");
    let _hans = login(s.addr, "hans");
    let _luke = login(s.addr, "luke");
    one(&mut yoda, "SRB hans");
    one(&mut yoda, "SRB luke");
    assert_eq!(srm(&mut yoda, 1, "a").0, 1);
    assert_eq!(srm(&mut yoda, 2, "b").0, 1);
    assert_eq!(srm(&mut yoda, 1, "c").0, 2);
    let texts = |id: u64| -> Vec<(u64, String)> {
        log_rows(&s.path(&format!("SR_{id}_messagelog.txt")))
            .into_iter()
            .map(|r| (r.0, r.3))
            .collect()
    };
    assert_eq!(texts(1), [(1, "a".to_string()), (2, "c".to_string())]);
    assert_eq!(texts(2), [(1, "b".to_string())]);
}

// ---------------------------------------------------------------------------------
// RDM

#[test]
fn rdm_errors_on_the_client_and_on_the_server() {
    let usage = "Error. Usage: RDM <b|s> <time, e.g. 1 Jun 2022 16:01:20>";
    assert_eq!(local_error("RDM"), usage);
    assert_eq!(local_error("RDM b"), usage);
    for line in ["RDM x 1 Jun 2022 16:00:00", "RDM B 1 Jun 2022 16:00:00"] {
        assert_eq!(local_error(line), "Error. Message type must be b or s");
    }
    let bad_time = "Error. Invalid timestamp, use e.g. 1 Jun 2022 16:01:20";
    for line in [
        "RDM b yesterday",
        "RDM s 1 June 2022 16:00:00",
        "RDM b 31/02/2022 16:00:00",
        "RDM b 1 Jun 2022",
        "RDM b 2022-06-01 16:00:00",
    ] {
        assert_eq!(local_error(line), bad_time, "{line}");
    }

    // A client that skips the checks gets the same lines from the server.
    let s = TestServer::start();
    let mut yoda = login(s.addr, "yoda");
    let mut rdm = |kind: &str, since: &str| {
        let r = yoda.call(Command::Rdm {
            kind: kind.into(),
            since: since.into(),
        });
        assert!(!r.ok);
        r.lines
    };
    assert_eq!(rdm("x", "1 Jun 2022 16:00:00"), [text::BAD_MESSAGE_TYPE]);
    assert_eq!(rdm("", "1 Jun 2022 16:00:00"), [text::BAD_MESSAGE_TYPE]);
    assert_eq!(rdm("b", "soon"), [bad_time]);
    assert_eq!(rdm("s", ""), [bad_time]);
}

#[test]
fn rdm_b_is_strictly_later_at_one_second_in_all_three_time_forms() {
    let s = TestServer::start();
    let mut yoda = login(s.addr, "yoda");
    let mut hans = login(s.addr, "hans");
    assert_eq!(
        hans.text_cmd("RDM b 1 Jun 2022 21:39:00"),
        [text::NO_NEW_MESSAGE]
    );
    assert_eq!(text::NO_NEW_MESSAGE, "no new message");

    let (_, t1) = bcm(&mut yoda, "first");
    after_second(&t1);
    let (_, t2) = bcm(&mut yoda, "second");
    assert!(at(&t2) > at(&t1));

    let forms = |t: &DateTime<Local>| {
        [
            timefmt::format(t),
            t.format("%d %b %Y %H:%M:%S").to_string(),
            t.format("%d/%m/%Y %H:%M:%S").to_string(),
        ]
    };
    let line1 = format!("#1; yoda: first at {t1}.");
    let line2 = format!("#2; yoda: second at {t2}.");
    let before = at(&shift(&t1, -1));
    for form in forms(&before) {
        assert_eq!(
            hans.text_cmd(&format!("RDM b {form}")),
            [
                format!("Broadcast messages since {}:", timefmt::format(&before)),
                line1.clone(),
                line2.clone(),
            ],
            "{form}"
        );
    }
    // Exactly the first message's second: only what is strictly later.
    for form in forms(&at(&t1)) {
        assert_eq!(
            hans.text_cmd(&format!("RDM b {form}")),
            [format!("Broadcast messages since {t1}:"), line2.clone()],
            "{form}"
        );
    }
    for form in forms(&at(&t2)) {
        assert_eq!(
            hans.text_cmd(&format!("RDM b {form}")),
            [text::NO_NEW_MESSAGE]
        );
    }
    assert_eq!(
        hans.text_cmd("RDM b 1 Jun 2033 21:39:00"),
        [text::NO_NEW_MESSAGE]
    );
    // The sender reads its own broadcasts too.
    assert_eq!(yoda.text_cmd(&format!("RDM b {t1}")).len(), 2);
}

#[test]
fn rdm_leaves_out_senders_the_reader_blocked() {
    let s = TestServer::start();
    let mut yoda = login(s.addr, "yoda");
    let mut hans = login(s.addr, "hans");
    let mut luke = login(s.addr, "luke");
    one(&mut yoda, "SRB hans luke");
    let (_, t) = bcm(&mut yoda, "from yoda");
    bcm(&mut luke, "from luke");
    srm(&mut yoda, 1, "room yoda");
    srm(&mut luke, 1, "room luke");
    assert_eq!(one(&mut hans, "block yoda"), "yoda is blocked");

    let since = shift(&t, -1);
    let b = hans.text_cmd(&format!("RDM b {since}"));
    assert_eq!(b.len(), 2, "{b:?}");
    assert!(b[1].starts_with("#2; luke: from luke at "), "{b:?}");
    let r = hans.text_cmd(&format!("RDM s {since}"));
    assert_eq!(r.len(), 3, "{r:?}");
    assert_eq!(r[1], "room-1:");
    assert!(r[2].starts_with("#2; luke: room luke at "), "{r:?}");

    // Only yoda's messages left: nothing to show.
    assert_eq!(one(&mut hans, "block luke"), "luke is blocked");
    assert_eq!(
        hans.text_cmd(&format!("RDM b {since}")),
        [text::NO_NEW_MESSAGE]
    );
    assert_eq!(
        hans.text_cmd(&format!("RDM s {since}")),
        [text::NO_NEW_MESSAGE]
    );
    // Unblocking shows them again (they were never lost).
    assert_eq!(one(&mut hans, "unblock yoda"), "yoda is unblocked");
    assert_eq!(hans.text_cmd(&format!("RDM b {since}")).len(), 2);
}

#[test]
fn rdm_s_lists_only_the_readers_rooms_with_new_messages() {
    let s = TestServer::start();
    let mut yoda = login(s.addr, "yoda");
    let mut hans = login(s.addr, "hans");
    let mut luke = login(s.addr, "luke");
    let _leia = login(s.addr, "leia");
    one(&mut yoda, "SRB hans"); // 1: yoda, hans
    one(&mut yoda, "SRB luke"); // 2: yoda, luke
    one(&mut yoda, "SRB hans luke"); // 3: all three
    one(&mut hans, "SRB leia"); // 4: hans, leia (yoda not in it)
    let (_, t1) = srm(&mut yoda, 1, "Hi, Hans");
    let (_, t2) = srm(&mut hans, 1, "Hi, Yoda");
    let (_, t3) = srm(&mut luke, 3, "all of us");
    srm(&mut hans, 4, "secret");
    // Room 2 has no messages.

    assert_eq!(
        yoda.text_cmd("RDM s 1 Jun 2033 21:39:00"),
        [text::NO_NEW_MESSAGE]
    );
    assert_eq!(
        yoda.text_cmd("RDM s 1 Jun 2022 21:39:00"),
        [
            "Messages in separate rooms since 1 Jun 2022 21:39:00:".to_string(),
            "room-1:".into(),
            format!("#1; yoda: Hi, Hans at {t1}."),
            format!("#2; hans: Hi, Yoda at {t2}."),
            "room-3:".into(),
            format!("#1; luke: all of us at {t3}."),
        ]
    );
    // luke sees room 3 only; RDM b is unaffected by room traffic.
    assert_eq!(
        luke.text_cmd("RDM s 01/06/2022 21:39:00"),
        [
            "Messages in separate rooms since 1 Jun 2022 21:39:00:".to_string(),
            "room-3:".into(),
            format!("#1; luke: all of us at {t3}."),
        ]
    );
    assert_eq!(
        luke.text_cmd("RDM b 1 Jun 2022 21:39:00"),
        [text::NO_NEW_MESSAGE]
    );

    // Strictly later per room.
    after_second(&t3);
    let (_, t4) = srm(&mut yoda, 2, "later");
    assert_eq!(
        yoda.text_cmd(&format!("RDM s {t3}")),
        [
            format!("Messages in separate rooms since {t3}:"),
            "room-2:".into(),
            format!("#1; yoda: later at {t4}."),
        ]
    );
}

#[test]
fn names_with_commas_and_semicolons_work_in_rooms_logs_and_blocks() {
    // Both characters are legal in user names (BEHAVIOUR 2); neither may break a file.
    let s = TestServer::start();
    let mut yoda = login(s.addr, "yoda");
    let mut odd = Client::login(s.addr, "r2;d2,x", "beep");
    let mut hans = login(s.addr, "hans");
    assert_eq!(
        one(&mut yoda, "SRB r2;d2,x hans"),
        "Separate chat room has been created, room ID: 1, users in this room: yoda, r2;d2,x, hans"
    );
    let (n, t) = srm(&mut odd, 1, "beep; boop");
    assert_eq!(n, 1);
    assert_eq!(yoda.text(), "r2;d2,x logged in");
    assert_eq!(yoda.text(), "hans logged in");
    assert_eq!(yoda.text(), "room-1: r2;d2,x: beep; boop");
    let (_, tb) = bcm(&mut odd, "hello");
    assert_eq!(
        read(&s.path("SR_1_messagelog.txt")),
        format!("1; {t}; r2;d2,x; beep; boop\n")
    );
    assert_eq!(
        read(&s.path("messagelog.txt")),
        format!("1; {tb}; r2;d2,x; hello\n")
    );
    let since = shift(&t, -1);
    assert_eq!(
        hans.text_cmd(&format!("RDM b {since}")),
        [
            format!("Broadcast messages since {since}:"),
            format!("#1; r2;d2,x: hello at {tb}.")
        ]
    );
    // Blocking the sender hides it from RDM.
    assert_eq!(one(&mut hans, "block r2;d2,x"), "r2;d2,x is blocked");
    assert_eq!(
        hans.text_cmd(&format!("RDM b {since}")),
        [text::NO_NEW_MESSAGE]
    );
    assert_eq!(
        hans.text_cmd(&format!("RDM s {since}")),
        [text::NO_NEW_MESSAGE]
    );
    // The room and the log read back after a restart.
    drop((yoda, odd, hans));
    let dir = s.stop();
    let s = TestServer::in_dir(dir, |_| {});
    let mut yoda = login(s.addr, "yoda");
    let r = yoda.text_cmd(&format!("RDM s {since}"));
    assert_eq!(
        r[1..],
        [
            "room-1:".to_string(),
            format!("#1; r2;d2,x: beep; boop at {t}.")
        ]
    );
    let _odd = Client::login(s.addr, "r2;d2,x", "beep");
    let _hans = login(s.addr, "hans");
    assert_eq!(
        one(&mut yoda, "SRB hans r2;d2,x"),
        "a separate room (ID: 1) already created for these users"
    );
}

// ---------------------------------------------------------------------------------
// OUT

#[test]
fn out_says_bye_tells_the_others_and_exits_zero() {
    let s = TestServer::start();
    let [mut yoda, mut hans] = team(s.addr, ["yoda", "hans"]);
    let r = hans.call(Command::Logout { how: Farewell::Out });
    assert_eq!(r.lines, ["Bye, hans!"]);
    assert_eq!(r.then, Then::Exit { code: 0 });
    assert_eq!(yoda.text(), "hans logged out");
    yoda.quiet_for(QUIET);
    assert_eq!(local_error("OUT now"), "Error. Usage: OUT");
    assert_eq!(local_error("ATU all"), "Error. Usage: ATU");
    // hans can come back.
    let _hans = login(s.addr, "hans");
    assert_eq!(yoda.text(), "hans logged in");
}

// ---------------------------------------------------------------------------------
// Concurrency

#[test]
fn concurrent_bcm_numbers_are_unique_gapless_and_keep_each_senders_order() {
    const SENDERS: usize = 20;
    const EACH: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let mut creds = String::from("hans indiana#jones\n");
    for i in 0..SENDERS {
        creds.push_str(&format!("u{i} pw{i}\n"));
    }
    std::fs::write(dir.path().join("credentials.txt"), creds).unwrap();
    let s = TestServer::in_dir(dir, |_| {});
    let mut listener = Client::login(s.addr, "hans", "indiana#jones");
    let clients: Vec<Client> = (0..SENDERS)
        .map(|i| Client::login(s.addr, &format!("u{i}"), &format!("pw{i}")))
        .collect();
    for _ in 0..SENDERS {
        assert!(listener.text().ends_with(" logged in"));
    }

    let start = std::sync::Arc::new(std::sync::Barrier::new(SENDERS));
    let workers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                (0..EACH)
                    .map(|j| bcm(&mut c, &format!("u{i} m{j}")).0)
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut numbers = Vec::new();
    for w in workers {
        let got = w.join().unwrap();
        assert!(got.windows(2).all(|p| p[0] < p[1]), "{got:?}");
        numbers.extend(got);
    }
    let total = (SENDERS * EACH) as u64;
    numbers.sort();
    assert_eq!(numbers, (1..=total).collect::<Vec<_>>());

    // The listener got every message once, each sender's in its own order.
    // (Senders that finished and hung up are announced as logged out meanwhile.)
    let mut next: HashMap<String, usize> = HashMap::new();
    let mut got = 0;
    while got < total {
        let line = listener.text();
        if line.ends_with(" logged out") {
            continue;
        }
        got += 1;
        let (who, body) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("unexpected {line:?}"));
        let j = next.entry(who.to_string()).or_default();
        assert_eq!(body, format!("{who} m{j}"), "out of order");
        *j += 1;
    }
    assert!(next.values().all(|&j| j == EACH), "{next:?}");

    // The log: numbers 1..N in file order, each sender's lines in its own order.
    let rows = log_rows(&s.path("messagelog.txt"));
    let in_file: Vec<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(in_file, (1..=total).collect::<Vec<_>>());
    let mut next: HashMap<&str, usize> = HashMap::new();
    for r in &rows {
        let j = next.entry(r.2.as_str()).or_default();
        assert_eq!(r.3, format!("{} m{j}", r.2));
        *j += 1;
    }
    assert_eq!(next.len(), SENDERS);
}

#[test]
fn concurrent_srm_in_one_room_is_gapless() {
    let s = TestServer::start();
    let mut yoda = login(s.addr, "yoda");
    let hans = login(s.addr, "hans");
    let luke = login(s.addr, "luke");
    one(&mut yoda, "SRB hans luke");
    let workers: Vec<_> = [yoda, hans, luke]
        .into_iter()
        .map(|mut c| {
            std::thread::spawn(move || {
                let me = c.name.clone();
                (0..30)
                    .map(|j| srm(&mut c, 1, &format!("{me} {j}")).0)
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut all: Vec<u64> = workers
        .into_iter()
        .flat_map(|w| {
            let got = w.join().unwrap();
            assert!(got.windows(2).all(|p| p[0] < p[1]));
            got
        })
        .collect();
    all.sort();
    assert_eq!(all, (1..=90).collect::<Vec<u64>>());
    let in_file: Vec<u64> = log_rows(&s.path("SR_1_messagelog.txt"))
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(in_file, (1..=90).collect::<Vec<u64>>());
}

// ---------------------------------------------------------------------------------
// Durability

/// Builds broadcasts, two rooms and room messages; returns the earliest time used.
fn populate(addr: SocketAddr) -> String {
    let mut yoda = login(addr, "yoda");
    let mut hans = login(addr, "hans");
    let _luke = login(addr, "luke");
    let (_, t0) = bcm(&mut yoda, "b1");
    bcm(&mut hans, "b2");
    one(&mut yoda, "SRB hans");
    one(&mut hans, "SRB luke yoda");
    srm(&mut yoda, 1, "r1 one");
    srm(&mut hans, 1, "r1 two");
    srm(&mut hans, 2, "r2 one");
    t0
}

/// Checks the history and rooms after a restart, then that numbering continues.
fn check_recovered(addr: SocketAddr, t0: &str) {
    let since = shift(t0, -1);
    let mut yoda = login(addr, "yoda");
    let mut hans = login(addr, "hans");
    let b = yoda.text_cmd(&format!("RDM b {since}"));
    assert_eq!(b.len(), 3, "{b:?}");
    assert!(b[1].starts_with("#1; yoda: b1 at "), "{b:?}");
    assert!(b[2].starts_with("#2; hans: b2 at "), "{b:?}");
    let r = yoda.text_cmd(&format!("RDM s {since}"));
    let shape: Vec<String> = r
        .iter()
        .map(|l| l.split(" at ").next().unwrap().to_string())
        .collect();
    assert_eq!(
        shape,
        [
            format!("Messages in separate rooms since {since}:"),
            "room-1:".into(),
            "#1; yoda: r1 one".into(),
            "#2; hans: r1 two".into(),
            "room-2:".into(),
            "#1; hans: r2 one".into(),
        ]
    );
    // Rooms came back with their ids and members.
    assert_eq!(
        one(&mut hans, "SRB yoda"),
        "a separate room (ID: 1) already created for these users"
    );
    let _luke = login(addr, "luke");
    assert_eq!(
        one(&mut yoda, "SRB luke hans"),
        "a separate room (ID: 2) already created for these users"
    );
    let mut leia = login(addr, "leia");
    assert_eq!(
        one(&mut leia, "SRM 1 hello?"),
        "You are not in this separate room chat"
    );
    // Numbering and ids continue.
    assert_eq!(bcm(&mut yoda, "b3").0, 3);
    assert_eq!(srm(&mut hans, 1, "r1 three").0, 3);
    assert_eq!(srm(&mut yoda, 2, "r2 two").0, 2);
    assert_eq!(
        one(&mut yoda, "SRB leia"),
        "Separate chat room has been created, room ID: 3, users in this room: yoda, leia"
    );
}

#[test]
fn rooms_and_history_survive_a_restart() {
    let s = TestServer::start();
    let t0 = populate(s.addr);
    let dir = s.stop();
    let s = TestServer::in_dir(dir, |_| {});
    check_recovered(s.addr, &t0);
    let numbers: Vec<u64> = log_rows(&s.path("messagelog.txt"))
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
}

#[test]
fn torn_lines_left_by_a_crash_are_cut_and_numbering_continues() {
    common::cluster_mode::single_node(
        "a single server's files after a crash (a cluster's logs are in Redis)",
    );
    let s = TestServer::start();
    let t0 = populate(s.addr);
    let dir = s.stop();
    for (file, torn) in [
        ("messagelog.txt", "3; 1 Jun 2022 21:3"),
        ("SR_1_messagelog.txt", "3; 1 Jun 2022 21:39:04; yo"),
        ("rooms.txt", "3; yoda, le"),
    ] {
        let path = dir.path().join(file);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(torn.as_bytes()).unwrap();
    }
    let s = TestServer::in_dir(dir, |_| {});
    check_recovered(s.addr, &t0);
    for (file, want) in [
        ("messagelog.txt", vec![1, 2, 3]),
        ("SR_1_messagelog.txt", vec![1, 2, 3]),
        ("SR_2_messagelog.txt", vec![1, 2]),
    ] {
        let rows = log_rows(&s.path(file));
        let numbers: Vec<u64> = rows.iter().map(|r| r.0).collect();
        assert_eq!(numbers, want, "{file}");
    }
}

/// Waits for the server to print `want` exactly; returns the lines before it.
fn server_says(rx: &crossbeam_channel::Receiver<String>, want: &str) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line == want => return seen,
            Ok(line) => seen.push(line),
            Err(_) => panic!("server never printed {want:?}; printed {seen:?}"),
        }
    }
}

#[test]
fn the_server_prints_one_line_per_toom_interaction() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("credentials.txt"), common::CREDENTIALS).unwrap();
    let server = ServerProc::start(dir.path(), &[]);
    let out = &server.out;
    let [mut yoda, _hans] = team(server.addr, ["yoda", "hans"]);
    let (_, t) = bcm(&mut yoda, "Hello");
    server_says(out, "yoda issued BCM command");
    server_says(out, &format!("yoda broadcasted BCM #1 \"Hello\" at {t}."));
    one(&mut yoda, "ATU");
    server_says(out, "yoda issued ATU command");
    one(&mut yoda, "SRB hans");
    server_says(out, "yoda issued SRB command");
    assert_eq!(yoda.text_cmd("RDM b 1 Jun 2022 21:39:00").len(), 2);
    server_says(out, "yoda issued RDM command");
    yoda.call(Command::Logout { how: Farewell::Out });
    server_says(out, "yoda logged out");
}

#[test]
fn rooms_and_history_survive_kill_9_of_the_server_process() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("credentials.txt"), common::CREDENTIALS).unwrap();
    let mut server = ServerProc::start(dir.path(), &[]);
    let t0 = populate(server.addr);
    server.kill9();
    drop(server);
    let server = ServerProc::start(dir.path(), &[]);
    check_recovered(server.addr, &t0);
}

// ---------------------------------------------------------------------------------
// The real client

/// A UDP port free right now (the client binds it again at once).
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn client_with_udp(addr: SocketAddr, dir: &Path, udp: u16) -> Bin {
    let args = [
        "127.0.0.1".to_string(),
        addr.port().to_string(),
        udp.to_string(),
    ];
    Bin::start(&args, dir)
}

#[test]
fn scripted_clients_walk_through_every_toom_command() {
    let s = TestServer::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (uy, uh) = (free_udp_port(), free_udp_port());
    let mut yoda = client_with_udp(s.addr, da.path(), uy);
    yoda.login("yoda", "wise");
    yoda.send("ATU");
    yoda.expect("no other active user");
    let mut hans = client_with_udp(s.addr, db.path(), uh);
    hans.login("hans", "indiana#jones");
    yoda.expect("hans logged in");

    yoda.send("ATU");
    let row = yoda.expect("active since");
    assert!(
        row.starts_with(&format!("hans, 127.0.0.1, {uh}, active since ")),
        "{row}"
    );
    hans.send("ATU");
    let row = hans.expect("active since");
    assert!(
        row.starts_with(&format!("yoda, 127.0.0.1, {uy}, active since ")),
        "{row}"
    );

    yoda.send("BCM  ");
    yoda.expect("Error. Usage: BCM <message>");
    yoda.send("BCM Hello world! COMP3331");
    yoda.expect("Broadcast message, #1 broadcast at ");
    hans.expect("yoda: Hello world! COMP3331");

    yoda.send("SRB");
    yoda.expect("Error. Usage: SRB");
    yoda.send("SRB yoda");
    yoda.expect("Error. You cannot build a separate room with yourself only");
    yoda.send("SRB offlineuser");
    yoda.expect("Error. offlineuser does not exist");
    yoda.send("SRB luke");
    yoda.expect("Error. luke is offline");
    yoda.send("SRB hans");
    yoda.expect("Separate chat room has been created, room ID: 1, users in this room: yoda, hans");
    hans.expect("You have been added to separate room 1 by yoda (users: yoda, hans)");
    hans.send("SRB yoda");
    hans.expect("a separate room (ID: 1) already created for these users");

    yoda.send("SRM");
    yoda.expect("Error. Usage: SRM");
    yoda.send("SRM x Hi, Hans");
    yoda.expect("Error. Room ID must be a number");
    yoda.send("SRM 2 Hi, Hans");
    yoda.expect("The separate room does not exist");
    yoda.send("SRM 1 Hi, Hans");
    yoda.expect("Separate room message, #1 issued at ");
    hans.expect("room-1: yoda: Hi, Hans");

    hans.send("RDM");
    hans.expect("Error. Usage: RDM");
    hans.send("RDM x 1 Jun 2022 21:39:00");
    hans.expect("Error. Message type must be b or s");
    hans.send("RDM b yesterday");
    hans.expect("Error. Invalid timestamp, use e.g. 1 Jun 2022 16:01:20");
    hans.send("RDM b 1 Jun 2022 21:39:00");
    hans.expect("Broadcast messages since 1 Jun 2022 21:39:00:");
    hans.expect("#1; yoda: Hello world! COMP3331 at ");
    hans.send("RDM s 1 Jun 2033 21:39:00");
    hans.expect("no new message");
    hans.send("RDM s 01/06/2022 21:39:00");
    hans.expect("Messages in separate rooms since 1 Jun 2022 21:39:00:");
    hans.expect("room-1:");
    hans.expect("#1; yoda: Hi, Hans at ");

    yoda.send("OUT");
    yoda.expect("Bye, yoda!");
    assert_eq!(yoda.exit_code(), 0);
    hans.expect("yoda logged out");
    let userlog = read(&s.path("userlog.txt"));
    assert!(userlog.starts_with("1; ") && userlog.ends_with(&format!("; hans; 127.0.0.1; {uh}\n")));
    assert_eq!(userlog.lines().count(), 1, "{userlog}");
    assert!(read(&s.path("messagelog.txt")).contains("; yoda; Hello world! COMP3331\n"));
    hans.send("OUT");
    hans.expect("Bye, hans!");
    assert_eq!(hans.exit_code(), 0);
    // The sender never saw its own broadcast or room message echoed.
    assert!(!yoda.seen.iter().any(|l| l == "yoda: Hello world! COMP3331"));
    assert!(!yoda.seen.iter().any(|l| l.starts_with("room-1: yoda:")));
}

// ---------------------------------------------------------------------------------
// Long replies

/// A data directory whose messagelog.txt already holds `n` broadcasts, one a second,
/// ending ten seconds ago; returns it and the time of message `i`.
fn dir_with_broadcasts(n: i64) -> (tempfile::TempDir, impl Fn(i64) -> String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("credentials.txt"), common::CREDENTIALS).unwrap();
    let base = Local::now().timestamp() - n - 10;
    let time_of = move |i: i64| timefmt::format(&Local.timestamp_opt(base + i, 0).unwrap());
    let f = std::fs::File::create(dir.path().join("messagelog.txt")).unwrap();
    let mut w = std::io::BufWriter::new(f);
    for i in 1..=n {
        let t = time_of(i);
        writeln!(w, "{i}; {t}; user{}; message number {i} of the log", i % 97).unwrap();
    }
    w.flush().unwrap();
    (dir, time_of)
}

#[test]
fn rdm_longer_than_one_protocol_line_reaches_the_client_whole_and_in_order() {
    common::cluster_mode::single_node(
        "writes a single server's messagelog.txt before it starts (a cluster's history is in Redis)",
    );
    // 3,000 lines of ~60 bytes: far more than one 64 KiB protocol line.
    let (dir, time_of) = dir_with_broadcasts(3000);
    let s = TestServer::in_dir(dir, |_| {});
    let mut hans = login(s.addr, "hans");
    let r = hans.call(Command::Rdm {
        kind: "b".into(),
        since: "1 Jun 2022 21:39:00".into(),
    });
    assert!(r.ok);
    let mut lines: Vec<String> = std::mem::take(&mut hans.events)
        .into_iter()
        .map(|e| match e {
            chinwag::protocol::Event::Text { text, .. }
            | chinwag::protocol::Event::Broadcast { text } => text,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    lines.extend(r.lines);
    assert_eq!(lines.len(), 3001);
    assert_eq!(lines[0], "Broadcast messages since 1 Jun 2022 21:39:00:");
    for i in 1..=3000 {
        let want = format!(
            "#{i}; user{}: message number {i} of the log at {}.",
            i % 97,
            time_of(i)
        );
        assert_eq!(lines[i as usize], want);
    }
    assert_eq!(one(&mut hans, "ATU"), text::NO_OTHER_ACTIVE);

    // The real client prints it all and carries on.
    let cwd = tempfile::tempdir().unwrap();
    let mut yoda = Bin::connect(s.addr, cwd.path());
    yoda.login("yoda", "wise");
    yoda.send("RDM b 1 Jun 2022 21:39:00");
    yoda.expect("Broadcast messages since 1 Jun 2022 21:39:00:");
    yoda.expect("#1; user1: message number 1 of the log at ");
    yoda.expect("#3000; user90: message number 3000 of the log at ");
    yoda.send("OUT");
    yoda.expect("Bye, yoda!");
    assert_eq!(yoda.exit_code(), 0);
    assert!(!yoda.seen.iter().any(|l| l.contains("Lost the connection")));
}

// ---------------------------------------------------------------------------------
// Measurement

/// RDM of the last few messages when messagelog.txt holds a million lines.
#[test]
#[ignore]
fn rdm_latency_on_a_million_line_log() {
    const N: i64 = 1_000_000;
    let started = Instant::now();
    let (dir, time_of) = dir_with_broadcasts(N);
    let size = std::fs::metadata(dir.path().join("messagelog.txt"))
        .unwrap()
        .len();
    println!("wrote {N} lines ({size} bytes) in {:?}", started.elapsed());

    let started = Instant::now();
    let s = TestServer::in_dir(dir, |_| {});
    println!(
        "server start (scans and indexes the log): {:?}",
        started.elapsed()
    );
    let mut hans = login(s.addr, "hans");
    for last in [1i64, 5, 10, 100] {
        let since = time_of(N - last);
        let mut times = Vec::new();
        // 20 calls per size: 80 in all stays inside the per-connection rate burst.
        for _ in 0..20 {
            let t = Instant::now();
            let lines = hans.text_cmd(&format!("RDM b {since}"));
            times.push(t.elapsed());
            assert_eq!(lines.len() as i64, last + 1);
        }
        let first = times[0];
        times.sort();
        println!(
            "RDM b of the last {last:>3}: min {:?}  median {:?}  max {:?} (20 calls over TCP; first {first:?})",
            times[0],
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
    let t = Instant::now();
    assert_eq!(
        hans.text_cmd("RDM b 1 Jun 2099 00:00:00"),
        [text::NO_NEW_MESSAGE]
    );
    println!("RDM b with nothing newer: {:?}", t.elapsed());
    let t = Instant::now();
    assert_eq!(bcm(&mut hans, "one more").0, N as u64 + 1);
    println!("BCM #{} (append + fsync): {:?}", N + 1, t.elapsed());

    // For scale: what one RDM would cost if it re-read and parsed the whole file.
    let t = Instant::now();
    let body = read(&s.path("messagelog.txt"));
    let newer = body
        .lines()
        .filter_map(|l| l.split("; ").nth(1).and_then(timefmt::parse))
        .filter(|when| when.timestamp() > at(&time_of(N - 10)).timestamp())
        .count();
    assert_eq!(newer, 11);
    println!(
        "for comparison, one full re-read and parse: {:?}",
        t.elapsed()
    );
}

/// Broadcast and room confirmations wait for an fsync on the syncer thread while the
/// session goes on; a client that sends many requests without waiting still gets every
/// reply in request order, each BCM numbered in turn, and a listener gets every message.
#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = TestServer::start();
    let mut yoda = login(s.addr, "yoda");
    let mut hans = login(s.addr, "hans");
    let room = yoda.call(Command::Srb {
        users: vec!["hans".into()],
    });
    assert!(room.ok, "{:?}", room.lines);
    assert!(hans
        .text()
        .starts_with("You have been added to separate room 1"));
    let mut ids = Vec::new();
    for i in 0..60 {
        let cmd = match i % 4 {
            0 => Command::Bcm {
                text: format!("bcm {i}"),
            },
            1 => Command::WhoElse,
            2 => Command::Broadcast {
                text: format!("plain {i}"),
            },
            _ => Command::Srm {
                room: 1,
                text: format!("room {i}"),
            },
        };
        ids.push(yoda.send(cmd));
    }
    let mut answered = Vec::new();
    let mut bcm_numbers = Vec::new();
    while answered.len() < ids.len() {
        match yoda.read() {
            Some(chinwag::protocol::ServerMsg::Response(r)) => {
                assert!(r.ok, "{:?}", r.lines);
                if let Some(l) = r
                    .lines
                    .first()
                    .filter(|l| l.starts_with("Broadcast message"))
                {
                    bcm_numbers
                        .push(number_and_time(l, "Broadcast message, #", " broadcast at ").0);
                }
                answered.push(r.re);
            }
            Some(_) => {}
            None => panic!("connection ended after {} replies", answered.len()),
        }
    }
    assert_eq!(answered, ids, "replies out of request order");
    assert_eq!(
        bcm_numbers,
        (0..15).map(|k| 2 * k + 1).collect::<Vec<u64>>()
    );
    let mut seen = Vec::new();
    while seen.len() < 45 {
        seen.push(hans.text());
    }
    let want: Vec<String> = (0..60)
        .filter(|i| i % 4 != 1)
        .map(|i| match i % 4 {
            0 => format!("yoda: bcm {i}"),
            2 => format!("yoda: plain {i}"),
            _ => format!("room-1: yoda: room {i}"),
        })
        .collect();
    assert_eq!(seen, want);
}
