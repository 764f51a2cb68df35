//! The messaging application over real TCP: every row and error line of BEHAVIOUR 3.1,
//! the blocking rules of section 3, the sample interaction of assignments.md 1.10 (steps
//! 1 to 6) with hans, yoda and luke, offline delivery and blocks across a restart,
//! `whoelsesince` windows, and the idle timeout (protocol level and the real binary).

mod common;

use chinwag::client::commands::parse;
use chinwag::protocol::{Command, Event, Farewell, Then};
use chinwag::text;
use common::{Bin, Client, TestServer, WAIT};
use std::time::{Duration, Instant};

const HANS: (&str, &str) = ("hans", "indiana#jones");
const YODA: (&str, &str) = ("yoda", "wise");
const LUKE: (&str, &str) = ("luke", "lightsaber@#");
const VADER: (&str, &str) = ("vader", "sithlord$9");
const LEIA: (&str, &str) = ("leia", "hairbuns*united");

/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(100);

fn login(s: &TestServer, who: (&str, &str)) -> Client {
    Client::login(s.addr, who.0, who.1)
}

/// hans, yoda and luke logged in, in that order, with the presence notices consumed.
fn trio(s: &TestServer) -> (Client, Client, Client) {
    let mut hans = login(s, HANS);
    let mut yoda = login(s, YODA);
    assert_eq!(hans.text(), "yoda logged in");
    let luke = login(s, LUKE);
    assert_eq!(hans.text(), "luke logged in");
    assert_eq!(yoda.text(), "luke logged in");
    (hans, yoda, luke)
}

/// Runs a line as the user typed it; the response's lines.
fn run(c: &mut Client, line: &str) -> Vec<String> {
    c.text_cmd(line)
}

/// What the client prints for a line it refuses without asking the server.
fn refused_locally(line: &str) -> String {
    parse(line).expect_err(line)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn names(list: &[&str]) -> Vec<String> {
    sorted(list.iter().map(|s| s.to_string()).collect())
}

fn logout(c: &mut Client) {
    let r = c.call(Command::Logout {
        how: Farewell::Logout,
    });
    assert_eq!(r.lines, vec![text::goodbye(&c.name)]);
    assert_eq!(r.then, Then::Exit { code: 0 });
}

/// Logs in and returns the welcome's lines followed by the offline messages (text events
/// sent before the session takes its next request).
fn welcome_lines(s: &TestServer, who: (&str, &str)) -> (Client, Vec<String>) {
    let mut c = Client::connect(s.addr);
    let r = c.try_login(who.0, who.1);
    assert_eq!(r.then, Then::LoggedIn, "{:?}", r.lines);
    c.name = who.0.to_string();
    c.call(chinwag::protocol::Command::Activity);
    let mut lines = r.lines;
    for ev in std::mem::take(&mut c.events) {
        match ev {
            chinwag::protocol::Event::Text { text, .. }
            | chinwag::protocol::Event::Broadcast { text } => lines.push(text),
            other => c.events.push(other),
        }
    }
    (c, lines)
}

fn wants(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|s| s.to_string()).collect()
}

/// Waits for the Bye event, skipping text events; returns its text and code.
fn bye(c: &mut Client) -> (String, i32) {
    loop {
        if let Event::Bye { text, code } = c.event() {
            return (text, code);
        }
    }
}

fn saw_text(c: &Client, want: &str) -> bool {
    c.events
        .iter()
        .any(|e| matches!(e, Event::Text { text, .. } | Event::Broadcast { text } if text == want))
}

// ---- The sample interaction, assignments.md 1.10 -------------------------------------

#[test]
fn sample_interaction_steps_1_to_6() {
    let s = TestServer::start();
    let (mut hans, mut yoda, mut luke) = trio(&s);

    // 1. whoelse, and an unknown command.
    assert_eq!(sorted(run(&mut hans, "whoelse")), names(&["yoda", "luke"]));
    assert_eq!(refused_locally("whatsthetime"), text::INVALID_COMMAND);

    // 2. A direct message, and one to a user who does not exist.
    assert!(run(&mut hans, "message yoda Hey Dude").is_empty());
    assert_eq!(yoda.text(), "hans: Hey Dude");
    assert_eq!(
        run(&mut hans, "message bob party time"),
        vec![text::INVALID_USER]
    );

    // 3. A broadcast reaches both others; the issuer gets nothing.
    assert!(run(&mut hans, "broadcast vader is evil").is_empty());
    assert_eq!(yoda.text(), "hans: vader is evil");
    assert_eq!(luke.text(), "hans: vader is evil");

    // 4. luke blocks hans.
    assert_eq!(run(&mut luke, "block hans"), vec!["hans is blocked"]);
    hans.quiet_for(QUIET);
    assert_eq!(
        run(&mut hans, "broadcast I travel solo"),
        vec![text::SOME_RECIPIENTS]
    );
    assert_eq!(yoda.text(), "hans: I travel solo");
    luke.quiet_for(QUIET);
    assert_eq!(run(&mut hans, "whoelse"), vec!["yoda"]);
    assert_eq!(
        run(&mut hans, "message luke You angry?"),
        vec![text::RECIPIENT_BLOCKED_YOU]
    );
    assert_eq!(run(&mut hans, "block hans"), vec![text::CANNOT_BLOCK_SELF]);
    assert_eq!(
        run(&mut luke, "unblock yoda"),
        vec!["Error. yoda was not blocked"]
    );
    assert_eq!(run(&mut luke, "unblock hans"), vec!["hans is unblocked"]);
    assert!(run(&mut hans, "broadcast jedis are cool").is_empty());
    assert_eq!(yoda.text(), "hans: jedis are cool");
    assert_eq!(luke.text(), "hans: jedis are cool");
    luke.quiet_for(QUIET);

    // 5. whoelsesince: everyone is online, so everyone is in any window.
    assert_eq!(
        sorted(run(&mut luke, "whoelsesince 200")),
        names(&["hans", "yoda"])
    );
    assert_eq!(
        sorted(run(&mut yoda, "whoelsesince 500")),
        names(&["hans", "luke"])
    );

    // 6. An offline message, delivered right after the welcome at luke's next login.
    logout(&mut luke);
    drop(luke);
    assert_eq!(hans.text(), "luke logged out");
    assert_eq!(yoda.text(), "luke logged out");
    assert_eq!(
        run(&mut hans, "message luke Let's rock"),
        vec!["Message to luke stored for offline delivery"]
    );
    let (mut luke, lines) = welcome_lines(&s, LUKE);
    assert_eq!(lines, wants(&[text::WELCOME, "hans: Let's rock"]));
    assert_eq!(hans.text(), "luke logged in");
    assert_eq!(yoda.text(), "luke logged in");
    logout(&mut yoda);
    assert_eq!(hans.text(), "yoda logged out");
    assert_eq!(luke.text(), "yoda logged out");
    // whoelsesince keeps yoda, who was online a moment ago.
    assert_eq!(
        sorted(run(&mut luke, "whoelsesince 200")),
        names(&["hans", "yoda"])
    );
    assert_eq!(run(&mut luke, "whoelse"), vec!["hans"]);
    luke.quiet_for(QUIET);
    hans.quiet_for(QUIET);
}

// ---- Every row and error of section 3.1 ----------------------------------------------

#[test]
fn message_is_silent_when_delivered_and_says_so_when_stored() {
    let s = TestServer::start();
    let mut yoda = login(&s, YODA);
    let mut hans = login(&s, HANS);
    assert_eq!(yoda.text(), "hans logged in");
    assert!(run(&mut yoda, "message hans Hey  Dude, spaces  kept").is_empty());
    assert_eq!(hans.text(), "yoda: Hey  Dude, spaces  kept");
    assert_eq!(
        run(&mut yoda, "message vader the force"),
        vec!["Message to vader stored for offline delivery"]
    );
    yoda.quiet_for(QUIET);
    hans.quiet_for(QUIET);
}

#[test]
fn message_errors() {
    let s = TestServer::start();
    let mut yoda = login(&s, YODA);
    assert_eq!(
        run(&mut yoda, "message yoda hi"),
        vec![text::CANNOT_MESSAGE_SELF]
    );
    assert_eq!(run(&mut yoda, "message bob hi"), vec![text::INVALID_USER]);
    // Nothing was stored for the unknown user or for self.
    assert!(!std::fs::read_to_string(s.path("journal.jsonl"))
        .unwrap_or_default()
        .contains("offline"));
    for bad in [
        "message",
        "message hans",
        "message hans ",
        "message  hans hi",
    ] {
        assert_eq!(
            refused_locally(bad),
            "Error. Usage: message <user> <message>",
            "{bad}"
        );
    }
    assert_eq!(refused_locally("Message hans hi"), text::INVALID_COMMAND);
}

#[test]
fn broadcast_reaches_every_other_online_user_and_is_not_stored() {
    let s = TestServer::start();
    let (mut hans, mut yoda, mut luke) = trio(&s);
    assert!(run(&mut yoda, "broadcast do or do not").is_empty());
    assert_eq!(hans.text(), "yoda: do or do not");
    assert_eq!(luke.text(), "yoda: do or do not");
    yoda.quiet_for(QUIET);
    // No offline delivery of broadcasts.
    let (_vader, lines) = welcome_lines(&s, VADER);
    assert_eq!(lines, vec![text::WELCOME]);
    assert_eq!(
        refused_locally("broadcast"),
        "Error. Usage: broadcast <message>"
    );
    assert_eq!(
        refused_locally("broadcast "),
        "Error. Usage: broadcast <message>"
    );
}

#[test]
fn broadcast_warns_only_when_someone_online_blocked_the_sender() {
    let s = TestServer::start();
    let (mut hans, mut yoda, mut luke) = trio(&s);
    // An offline blocker does not make the broadcast partial.
    let mut vader = login(&s, VADER);
    assert_eq!(run(&mut vader, "block yoda"), vec!["yoda is blocked"]);
    logout(&mut vader);
    drop(vader);
    // yoda saw vader arrive but, once blocked, not leave.
    assert_eq!(yoda.text(), "vader logged in");
    for c in [&mut hans, &mut luke] {
        assert_eq!(c.text(), "vader logged in");
        assert_eq!(c.text(), "vader logged out");
    }
    yoda.quiet_for(QUIET);
    assert!(run(&mut yoda, "broadcast all is well").is_empty());
    assert_eq!(hans.text(), "yoda: all is well");
    assert_eq!(luke.text(), "yoda: all is well");
    // An online blocker does.
    run(&mut hans, "block yoda");
    assert_eq!(
        run(&mut yoda, "broadcast partial"),
        vec![text::SOME_RECIPIENTS]
    );
    assert_eq!(luke.text(), "yoda: partial");
    hans.quiet_for(QUIET);
}

#[test]
fn whoelse_lists_others_or_says_none() {
    let s = TestServer::start();
    let mut yoda = login(&s, YODA);
    assert_eq!(run(&mut yoda, "whoelse"), vec![text::NO_OTHER_USERS]);
    assert_eq!(text::NO_OTHER_USERS, "No other users online");
    let _hans = login(&s, HANS);
    let _luke = login(&s, LUKE);
    assert_eq!(sorted(run(&mut yoda, "whoelse")), names(&["hans", "luke"]));
    assert_eq!(refused_locally("whoelse now"), "Error. Usage: whoelse");
}

#[test]
fn whoelsesince_says_none_and_needs_an_integer() {
    let s = TestServer::start();
    let mut yoda = login(&s, YODA);
    assert_eq!(
        run(&mut yoda, "whoelsesince 200"),
        vec!["No other users online in the last 200 seconds"]
    );
    for bad in [
        "whoelsesince",
        "whoelsesince soon",
        "whoelsesince 2.5",
        "whoelsesince -5",
        "whoelsesince 5 6",
    ] {
        assert_eq!(
            refused_locally(bad),
            "Error. Usage: whoelsesince <seconds>",
            "{bad}"
        );
    }
}

#[test]
fn block_and_unblock_rows_and_errors() {
    let s = TestServer::start();
    let mut yoda = login(&s, YODA);
    let mut hans = login(&s, HANS);
    assert_eq!(yoda.text(), "hans logged in");
    // hans is online; block works for offline users too (vader).
    assert_eq!(run(&mut yoda, "block hans"), vec!["hans is blocked"]);
    assert_eq!(
        run(&mut yoda, "block hans"),
        vec!["Error. hans is already blocked"]
    );
    assert_eq!(run(&mut yoda, "block vader"), vec!["vader is blocked"]);
    assert_eq!(run(&mut yoda, "block yoda"), vec![text::CANNOT_BLOCK_SELF]);
    assert_eq!(run(&mut yoda, "block bob"), vec![text::INVALID_USER]);
    // hans is not told.
    hans.quiet_for(QUIET);
    assert_eq!(run(&mut yoda, "unblock hans"), vec!["hans is unblocked"]);
    assert_eq!(
        run(&mut yoda, "unblock hans"),
        vec!["Error. hans was not blocked"]
    );
    assert_eq!(
        run(&mut yoda, "unblock luke"),
        vec!["Error. luke was not blocked"]
    );
    assert_eq!(
        run(&mut yoda, "unblock yoda"),
        vec![text::CANNOT_UNBLOCK_SELF]
    );
    assert_eq!(run(&mut yoda, "unblock bob"), vec![text::INVALID_USER]);
    hans.quiet_for(QUIET);
    for bad in ["block", "block hans luke", "block "] {
        assert_eq!(refused_locally(bad), "Error. Usage: block <user>", "{bad}");
    }
    for bad in ["unblock", "unblock hans luke"] {
        assert_eq!(
            refused_locally(bad),
            "Error. Usage: unblock <user>",
            "{bad}"
        );
    }
}

#[test]
fn logout_says_goodbye_and_others_see_it() {
    let s = TestServer::start();
    let (mut hans, mut yoda, mut luke) = trio(&s);
    logout(&mut yoda);
    assert_eq!(hans.text(), "yoda logged out");
    assert_eq!(luke.text(), "yoda logged out");
    assert_eq!(refused_locally("logout now"), "Error. Usage: logout");
}

// ---- Blocking everywhere -------------------------------------------------------------

#[test]
fn a_blocked_user_reaches_the_blocker_by_no_route_and_cannot_see_them() {
    let s = TestServer::start();
    let (mut hans, mut yoda, mut luke) = trio(&s);
    assert_eq!(run(&mut hans, "block yoda"), vec!["yoda is blocked"]);

    // No message of any kind.
    assert_eq!(
        run(&mut yoda, "message hans hello?"),
        vec![text::RECIPIENT_BLOCKED_YOU]
    );
    assert_eq!(
        run(&mut yoda, "broadcast anyone?"),
        vec![text::SOME_RECIPIENTS]
    );
    assert_eq!(luke.text(), "yoda: anyone?");
    let r = yoda.lines(Command::Bcm {
        text: "logged broadcast".into(),
    });
    assert!(
        r[0].starts_with("Broadcast message, #2 broadcast at "),
        "{r:?}"
    );
    assert_eq!(luke.text(), "yoda: logged broadcast");
    hans.quiet_for(QUIET);

    // yoda cannot see hans anywhere.
    assert_eq!(run(&mut yoda, "whoelse"), vec!["luke"]);
    assert_eq!(run(&mut yoda, "whoelsesince 200"), vec!["luke"]);
    let atu = yoda.lines(Command::Atu);
    assert_eq!(atu.len(), 1, "{atu:?}");
    assert!(atu[0].starts_with("luke, 127.0.0.1, "), "{atu:?}");
    // hans still sees yoda: the block hides the blocker, not the blocked.
    assert_eq!(sorted(run(&mut hans, "whoelse")), names(&["yoda", "luke"]));

    // No presence notices either way.
    logout(&mut hans);
    drop(hans);
    assert_eq!(luke.text(), "hans logged out");
    let mut hans = login(&s, HANS);
    assert_eq!(luke.text(), "hans logged in");
    yoda.quiet_for(QUIET);
    logout(&mut yoda);
    drop(yoda);
    assert_eq!(luke.text(), "yoda logged out");
    let mut yoda = login(&s, YODA);
    assert_eq!(luke.text(), "yoda logged in");
    hans.quiet_for(QUIET);

    // The hiding includes past logins: hans's stints stay hidden from whoelsesince.
    assert_eq!(run(&mut yoda, "whoelsesince 200"), vec!["luke"]);

    // A message to an offline blocker is refused and never stored.
    logout(&mut hans);
    drop(hans);
    assert_eq!(luke.text(), "hans logged out");
    assert_eq!(
        run(&mut yoda, "message hans while you were out"),
        vec![text::RECIPIENT_BLOCKED_YOU]
    );
    let (mut hans, lines) = welcome_lines(&s, HANS);
    assert_eq!(lines, vec![text::WELCOME]);
    assert_eq!(luke.text(), "hans logged in");
    yoda.quiet_for(QUIET);

    // Unblocking reverses all of it.
    assert_eq!(run(&mut hans, "unblock yoda"), vec!["yoda is unblocked"]);
    assert_eq!(sorted(run(&mut yoda, "whoelse")), names(&["hans", "luke"]));
    assert!(run(&mut yoda, "message hans welcome back").is_empty());
    assert_eq!(hans.text(), "yoda: welcome back");
    assert!(run(&mut yoda, "broadcast hello all").is_empty());
    assert_eq!(hans.text(), "yoda: hello all");
    assert_eq!(luke.text(), "yoda: hello all");
    logout(&mut yoda);
    assert_eq!(hans.text(), "yoda logged out");
    assert_eq!(luke.text(), "yoda logged out");
}

#[test]
fn the_blocker_gets_no_notice_of_the_blocked_users_logins_and_vice_versa() {
    let s = TestServer::start();
    let mut luke = login(&s, LUKE);
    assert_eq!(run(&mut luke, "block vader"), vec!["vader is blocked"]);
    // vader logs in: luke is not told; vader is not told about luke later either.
    let mut vader = login(&s, VADER);
    luke.quiet_for(QUIET);
    let mut leia = login(&s, LEIA);
    assert_eq!(vader.text(), "leia logged in");
    assert_eq!(luke.text(), "leia logged in");
    logout(&mut luke);
    assert_eq!(leia.text(), "luke logged out");
    vader.quiet_for(QUIET);
    let _luke = login(&s, LUKE);
    assert_eq!(leia.text(), "luke logged in");
    vader.quiet_for(QUIET);
}

// ---- Offline delivery ---------------------------------------------------------------

#[test]
fn offline_messages_arrive_in_order_right_after_the_welcome_and_only_once() {
    let s = TestServer::start();
    let mut hans = login(&s, HANS);
    let mut yoda = login(&s, YODA);
    let stored = text::stored_offline("vader");
    assert_eq!(run(&mut hans, "message vader one"), vec![stored.clone()]);
    assert_eq!(run(&mut yoda, "message vader two"), vec![stored.clone()]);
    assert_eq!(run(&mut hans, "message vader three"), vec![stored.clone()]);
    let (mut vader, lines) = welcome_lines(&s, VADER);
    assert_eq!(
        lines,
        wants(&[text::WELCOME, "hans: one", "yoda: two", "hans: three"])
    );
    vader.quiet_for(QUIET);
    logout(&mut vader);
    drop(vader);
    let (mut vader, lines) = welcome_lines(&s, VADER);
    assert_eq!(lines, vec![text::WELCOME]);
    vader.quiet_for(QUIET);
}

/// hans reacts to `luke logged in` by messaging luke at once: that live message must
/// come after luke's welcome and the message stored before (it used to overtake both,
/// because the welcome was queued only after luke was visible as online).
#[test]
fn a_live_message_never_overtakes_the_welcome_or_the_stored_ones() {
    common::cluster_mode::single_node(
        "a message sent the instant its recipient logs in on another node can miss the live delivery (README, known limits)",
    );
    let s = TestServer::start();
    let mut hans = login(&s, HANS);
    for i in 0..20 {
        run(&mut hans, &format!("message luke stored {i}"));
        let addr = s.addr;
        let luke = std::thread::spawn(move || {
            let mut luke = Client::connect(addr);
            let r = luke.try_login(LUKE.0, LUKE.1);
            let early = std::mem::take(&mut luke.events);
            luke.name = LUKE.0.into();
            let stored = luke.text();
            let live = luke.text();
            logout(&mut luke);
            (r.lines, early, stored, live)
        });
        assert_eq!(hans.text(), "luke logged in");
        assert!(run(&mut hans, &format!("message luke live {i}")).is_empty());
        let (lines, early, stored, live) = luke.join().unwrap();
        assert_eq!(lines, vec![text::WELCOME.to_string()]);
        assert_eq!(stored, format!("hans: stored {i}"));
        assert!(early.is_empty(), "before the welcome: {early:?}");
        assert_eq!(live, format!("hans: live {i}"));
        assert_eq!(hans.text(), "luke logged out");
    }
}

#[test]
fn offline_messages_survive_a_restart_and_are_not_redelivered_after_one() {
    let s = TestServer::start();
    {
        let mut hans = login(&s, HANS);
        run(&mut hans, "message luke Let's rock");
        run(&mut hans, "message luke and roll");
        run(&mut hans, "message leia for later");
    }
    let s = TestServer::in_dir(s.stop(), |_| {});
    {
        let (_luke, lines) = welcome_lines(&s, LUKE);
        assert_eq!(
            lines,
            wants(&[text::WELCOME, "hans: Let's rock", "hans: and roll"])
        );
    }
    let s = TestServer::in_dir(s.stop(), |_| {});
    let (_luke, lines) = welcome_lines(&s, LUKE);
    assert_eq!(lines, vec![text::WELCOME]);
    let (_leia, lines) = welcome_lines(&s, LEIA);
    assert_eq!(lines, wants(&[text::WELCOME, "hans: for later"]));
}

/// An offline message's event carries when it was sent, kept through a restart; a live
/// one carries none (its bytes are as they always were).
#[test]
fn an_offline_message_carries_its_send_time_even_after_a_restart() {
    let s = TestServer::start();
    let before = chinwag::server::store::unix_now();
    run(
        &mut login(&s, HANS),
        "message luke sent while you were away",
    );
    let after = chinwag::server::store::unix_now();
    let s = TestServer::in_dir(s.stop(), |_| {});
    let mut luke = login(&s, LUKE);
    match luke.event() {
        Event::Text {
            text,
            sent: Some(sent),
        } => {
            assert_eq!(text, "hans: sent while you were away");
            assert!((before..=after).contains(&sent), "{before} {sent} {after}");
        }
        other => panic!("{other:?}"),
    }
    let mut hans = login(&s, HANS);
    assert_eq!(luke.text(), "hans logged in");
    run(&mut hans, "message luke live now");
    assert_eq!(luke.event(), Event::text("hans: live now"));
}

#[test]
fn blocks_survive_a_restart() {
    let s = TestServer::start();
    {
        let mut luke = login(&s, LUKE);
        assert_eq!(run(&mut luke, "block hans"), vec!["hans is blocked"]);
        assert_eq!(run(&mut luke, "block yoda"), vec!["yoda is blocked"]);
        assert_eq!(run(&mut luke, "unblock yoda"), vec!["yoda is unblocked"]);
    }
    let s = TestServer::in_dir(s.stop(), |_| {});
    {
        let mut luke = login(&s, LUKE);
        let mut hans = login(&s, HANS);
        luke.quiet_for(QUIET);
        assert_eq!(run(&mut hans, "whoelse"), vec![text::NO_OTHER_USERS]);
        assert_eq!(
            run(&mut hans, "message luke still angry?"),
            vec![text::RECIPIENT_BLOCKED_YOU]
        );
        let mut yoda = login(&s, YODA);
        assert_eq!(luke.text(), "yoda logged in");
        assert!(run(&mut yoda, "message luke unblocked me").is_empty());
        assert_eq!(luke.text(), "yoda: unblocked me");
        assert_eq!(
            run(&mut luke, "block hans"),
            vec!["Error. hans is already blocked"]
        );
        assert_eq!(run(&mut luke, "unblock hans"), vec!["hans is unblocked"]);
    }
    let s = TestServer::in_dir(s.stop(), |_| {});
    let mut hans = login(&s, HANS);
    let _luke = login(&s, LUKE);
    assert_eq!(hans.text(), "luke logged in");
    assert!(run(&mut hans, "message luke friends again").is_empty());
}

// ---- whoelsesince windows ------------------------------------------------------------

#[test]
fn whoelsesince_counts_anyone_logged_in_at_any_moment_of_the_window() {
    // Where a window's edge falls is tested with a made-up clock, in
    // src/server/cmd/presence.rs; here, through the socket, what a user sees.
    let s = TestServer::start();
    let mut yoda = login(&s, YODA);
    let _hans = login(&s, HANS);
    for who in [LEIA, VADER] {
        let mut c = login(&s, who);
        logout(&mut c);
    }
    assert_eq!(
        sorted(run(&mut yoda, "whoelsesince 60")),
        names(&["hans", "leia", "vader"])
    );
    // Longer than the server has run: everyone since start-up, each once.
    let mut leia = login(&s, LEIA);
    logout(&mut leia);
    assert_eq!(
        sorted(run(&mut yoda, "whoelsesince 99999999")),
        names(&["hans", "leia", "vader"])
    );
    // Zero seconds: those online right now.
    assert_eq!(run(&mut yoda, "whoelsesince 0"), vec!["hans"]);
}

// ---- Idle timeout --------------------------------------------------------------------

/// The idle timeout of these tests' servers, and how often an active user acts.
const TIMEOUT: Duration = Duration::from_millis(500);
const STEP: Duration = Duration::from_millis(100);

fn short_timeout() -> TestServer {
    TestServer::with(|c| c.timeout = Some(TIMEOUT))
}

/// Keeps `c` active with `whoelse` every [`STEP`] until `want` arrives.
fn stay_active_until(c: &mut Client, want: &str) {
    let deadline = Instant::now() + WAIT;
    while !saw_text(c, want) {
        assert!(Instant::now() < deadline, "{want:?} never came");
        c.lines(Command::WhoElse);
        std::thread::sleep(STEP);
    }
    c.events.clear();
}

#[test]
fn an_idle_user_is_logged_out_and_others_are_told() {
    let s = short_timeout();
    let mut yoda = login(&s, YODA);
    let mut hans = login(&s, HANS);
    stay_active_until(&mut hans, "yoda logged out");
    assert_eq!(bye(&mut yoda), (text::INACTIVITY.to_string(), 0));
    assert!(yoda.read().is_none(), "the connection closes after the Bye");
    assert_eq!(
        text::INACTIVITY,
        "You have been logged out due to inactivity"
    );
    assert_eq!(run(&mut hans, "whoelse"), vec![text::NO_OTHER_USERS]);
    // yoda can log in again.
    login(&s, YODA);
}

#[test]
fn valid_commands_reset_the_idle_clock_but_received_messages_do_not() {
    let s = short_timeout();
    let mut yoda = login(&s, YODA);
    let mut hans = login(&s, HANS);
    assert_eq!(yoda.text(), "hans logged in");
    // For 1.5 timeouts, yoda sends whoelse every step and hans messages yoda: yoda
    // stays.
    let start = Instant::now();
    while start.elapsed() < TIMEOUT * 3 / 2 {
        assert_eq!(run(&mut yoda, "whoelse"), vec!["hans"]);
        assert!(run(&mut hans, "message yoda still there?").is_empty());
        std::thread::sleep(STEP);
    }
    assert!(
        yoda.events
            .iter()
            .all(|e| matches!(e, Event::Text { text, .. } | Event::Broadcast { text } if text == "hans: still there?")),
        "{:?}",
        yoda.events
    );
    yoda.events.clear();
    // Now only hans acts (his messages to yoda keep him, not yoda, alive).
    let deadline = Instant::now() + WAIT;
    while !saw_text(&hans, "yoda logged out") {
        assert!(Instant::now() < deadline, "yoda never timed out");
        // Delivered live, or stored once yoda has just timed out.
        let r = run(&mut hans, "message yoda wake up");
        assert!(
            r.is_empty() || r == vec![text::stored_offline("yoda")],
            "{r:?}"
        );
        std::thread::sleep(STEP);
    }
    assert_eq!(bye(&mut yoda), (text::INACTIVITY.to_string(), 0));
}

#[test]
fn a_timeout_notice_respects_blocks() {
    let s = short_timeout();
    let mut yoda = login(&s, YODA);
    let mut hans = login(&s, HANS);
    let mut luke = login(&s, LUKE);
    assert_eq!(run(&mut hans, "block yoda"), vec!["yoda is blocked"]);
    // hans and luke stay active; yoda idles out.
    let deadline = Instant::now() + WAIT;
    while !saw_text(&luke, "yoda logged out") {
        assert!(Instant::now() < deadline, "yoda never timed out");
        hans.lines(Command::WhoElse);
        luke.lines(Command::WhoElse);
        std::thread::sleep(STEP);
    }
    assert_eq!(bye(&mut yoda), (text::INACTIVITY.to_string(), 0));
    hans.lines(Command::WhoElse);
    assert!(!saw_text(&hans, "yoda logged out"), "{:?}", hans.events);
}

#[test]
fn the_real_client_prints_the_timeout_and_exits_0_and_invalid_commands_do_not_count() {
    let s = short_timeout();
    let dir = tempfile::tempdir().unwrap();
    let mut bin = Bin::connect(s.addr, dir.path());
    bin.login("yoda", "wise");
    // Invalid commands every 200 ms never reach the server: yoda times out while still
    // typing them (3 s of them against a 0.5 s timeout).
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut timed_out = false;
    while Instant::now() < deadline && !timed_out {
        if !bin.try_send("whatsthetime") {
            break;
        }
        timed_out = bin
            .try_expect(text::INACTIVITY, Duration::from_millis(200))
            .is_some();
    }
    if !timed_out {
        bin.expect(text::INACTIVITY);
    }
    assert!(bin.seen.iter().any(|l| l == text::INVALID_COMMAND));
    assert_eq!(bin.exit_code(), 0);
    assert!(
        timed_out,
        "still logged in after 3 s of invalid commands: {:?}",
        bin.seen
    );
}

// ---- broadcast and BCM share messagelog.txt -----------------------------------------

#[test]
fn broadcast_and_bcm_share_the_message_log_and_its_numbering() {
    let s = TestServer::start();
    let mut yoda = login(&s, YODA);
    let mut hans = login(&s, HANS);
    assert_eq!(yoda.text(), "hans logged in");
    assert!(run(&mut yoda, "broadcast first").is_empty());
    assert_eq!(hans.text(), "yoda: first");
    let r = hans.lines(Command::Bcm {
        text: "second".into(),
    });
    assert!(
        r[0].starts_with("Broadcast message, #2 broadcast at "),
        "{r:?}"
    );
    assert_eq!(yoda.text(), "hans: second");
    assert!(run(&mut yoda, "broadcast third one").is_empty());
    assert_eq!(hans.text(), "yoda: third one");
    let log = std::fs::read_to_string(s.path("messagelog.txt")).unwrap();
    let rows: Vec<(String, String, String)> = log
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, "; ").collect();
            (f[0].into(), f[2].into(), f[3].into())
        })
        .collect();
    let want = |n: &str, u: &str, t: &str| (n.to_string(), u.to_string(), t.to_string());
    assert_eq!(
        rows,
        vec![
            want("1", "yoda", "first"),
            want("2", "hans", "second"),
            want("3", "yoda", "third one"),
        ]
    );
    // The numbering continues after a restart.
    drop((yoda, hans));
    let s = TestServer::in_dir(s.stop(), |_| {});
    let mut yoda = login(&s, YODA);
    run(&mut yoda, "broadcast fourth");
    let r = yoda.lines(Command::Bcm {
        text: "fifth".into(),
    });
    assert!(
        r[0].starts_with("Broadcast message, #5 broadcast at "),
        "{r:?}"
    );
    let log = std::fs::read_to_string(s.path("messagelog.txt")).unwrap();
    assert!(log.lines().nth(3).unwrap().starts_with("4; "), "{log}");
    assert!(
        log.lines().nth(3).unwrap().ends_with("; yoda; fourth"),
        "{log}"
    );
}

// ---- The real client's output in scripted mode --------------------------------------

/// Waits for a line exactly equal to `want`.
fn expect_line(bin: &mut Bin, want: &str) {
    loop {
        if bin.expect(want) == want {
            return;
        }
    }
}

#[test]
fn the_scripted_client_prints_the_spec_strings() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut hans = Bin::connect(s.addr, dir.path());
    hans.login("hans", "indiana#jones");
    let mut yoda = Bin::connect(s.addr, dir.path());
    yoda.login("yoda", "wise");
    expect_line(&mut hans, "yoda logged in");

    yoda.send("whoelse");
    expect_line(&mut yoda, "hans");
    hans.send("message yoda Hey Dude");
    expect_line(&mut yoda, "hans: Hey Dude");
    hans.send("message luke Let's rock");
    expect_line(&mut hans, "Message to luke stored for offline delivery");
    hans.send("message bob party time");
    expect_line(&mut hans, "Error. Invalid user");
    hans.send("message hans me");
    expect_line(&mut hans, "Error. Cannot message self");
    hans.send("message hans");
    expect_line(&mut hans, "Error. Usage: message <user> <message>");
    hans.send("whatsthetime");
    expect_line(&mut hans, "Error. Invalid command");
    hans.send("whoelsesince soon");
    expect_line(&mut hans, "Error. Usage: whoelsesince <seconds>");
    hans.send("whoelsesince 200");
    expect_line(&mut hans, "yoda");
    yoda.send("block hans");
    expect_line(&mut yoda, "hans is blocked");
    yoda.send("block hans");
    expect_line(&mut yoda, "Error. hans is already blocked");
    yoda.send("block yoda");
    expect_line(&mut yoda, "Error. Cannot block self");
    yoda.send("unblock yoda");
    expect_line(&mut yoda, "Error. Cannot unblock self");
    yoda.send("unblock luke");
    expect_line(&mut yoda, "Error. luke was not blocked");
    hans.send("message yoda You angry?");
    expect_line(
        &mut hans,
        "Your message could not be delivered as the recipient has blocked you",
    );
    hans.send("broadcast I travel solo");
    expect_line(
        &mut hans,
        "Your message could not be delivered to some recipients",
    );
    hans.send("whoelse");
    expect_line(&mut hans, "No other users online");
    hans.send("whoelsesince 200");
    expect_line(&mut hans, "No other users online in the last 200 seconds");
    yoda.send("unblock hans");
    expect_line(&mut yoda, "hans is unblocked");

    // luke logs in: the offline message comes right after the welcome.
    let mut luke = Bin::connect(s.addr, dir.path());
    luke.login("luke", "lightsaber@#");
    assert_eq!(luke.expect(""), "hans: Let's rock");
    expect_line(&mut hans, "luke logged in");
    expect_line(&mut yoda, "luke logged in");
    hans.send("broadcast jedis are cool");
    expect_line(&mut yoda, "hans: jedis are cool");
    expect_line(&mut luke, "hans: jedis are cool");

    yoda.send("logout");
    expect_line(&mut yoda, "Goodbye, yoda!");
    assert_eq!(yoda.exit_code(), 0);
    expect_line(&mut hans, "yoda logged out");
    expect_line(&mut luke, "yoda logged out");
    // End of input logs out cleanly too.
    luke.close_stdin();
    assert_eq!(luke.exit_code(), 0);
    expect_line(&mut hans, "luke logged out");
    // Nothing unexpected was printed to yoda (hans's blocked broadcast never arrived).
    assert!(!yoda.seen.iter().any(|l| l.contains("travel solo")));
}
