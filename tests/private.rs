//! Peer-to-peer private chat (BEHAVIOUR.md 3.4) with real `chinwag` clients in scripted
//! mode: the 21T3 sample interaction (assignments.md 1.7), every error row, declines,
//! stopprivate from either side, sessions that outlive blocks, peers that vanish (logout,
//! idle timeout, SIGKILL), a third party presenting a wrong token, idle-timeout accounting
//! and several sessions at once mixed with server commands.

mod common;

use common::password;

use chinwag::protocol::{Command, Event};
use common::{Bin, Client, TestServer, WAIT};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A real client logged in as `user`.
fn user(s: &TestServer, user: &str) -> Bin {
    let mut b = Bin::connect(s.addr, s.dir.path());
    b.login(user, password(user));
    b
}

fn consent(from: &str) -> String {
    format!("{from} would like to private message, enter y or n:")
}

/// `a` asks `b` (the names are `an`, `bn`), `b` accepts, `a` is told.
fn open(a: &mut Bin, an: &str, b: &mut Bin, bn: &str) {
    a.send(&format!("startprivate {bn}"));
    b.expect_line(&consent(an));
    b.send("y");
    a.expect_line(&format!("{bn} accepts private messaging"));
    a.expect_line(&format!("Start private messaging with {bn}"));
}

/// A server round trip: everything the server queued for `b` before now has been printed.
fn sync(b: &mut Bin) {
    b.send("message nobody ping");
    b.expect_line("Error. Invalid user");
}

/// Nothing `b` printed so far contains `what`.
fn never_saw(b: &mut Bin, what: &str) {
    sync(b);
    assert!(
        !b.seen.iter().any(|l| l.contains(what)),
        "unexpected {what:?} in {:?}",
        b.seen
    );
}

fn ended(user: &str) -> String {
    format!("Private messaging with {user} ended as {user} logged out")
}

fn unavailable(user: &str) -> String {
    format!("Error. {user} is no longer available for private messaging")
}

#[test]
fn sample_interaction_21t3() {
    let s = TestServer::start();
    let mut hans = user(&s, "hans");
    let mut yoda = user(&s, "yoda");
    let mut luke = user(&s, "luke");

    hans.send("private luke hey dude");
    hans.expect_line("Error. Private messaging to luke not enabled");
    hans.send("startprivate luke");
    luke.expect_line(&consent("hans"));
    luke.send("y");
    hans.expect_line("luke accepts private messaging");
    hans.expect_line("Start private messaging with luke");

    hans.send("private luke hey dude");
    luke.expect_line("hans(private): hey dude");
    luke.send("private hans hello man");
    hans.expect_line("luke(private): hello man");

    hans.send("message yoda force is strong");
    yoda.expect_line("hans: force is strong");
    hans.send("message luke now via server");
    luke.expect_line("hans: now via server");

    hans.send("logout");
    hans.expect_line("Goodbye, hans!");
    assert_eq!(hans.exit_code(), 0);
    yoda.expect_line("hans logged out");
    luke.expect_all(&["hans logged out", &ended("hans")]);
    luke.send("private hans are you there");
    luke.expect_line(&unavailable("hans"));
    luke.send("startprivate hans");
    luke.expect_line("Error. hans is offline");
    // The server never carried the private lines to anyone else.
    never_saw(&mut yoda, "(private)");
}

#[test]
fn decline_and_a_wrong_answer() {
    let s = TestServer::start();
    let mut hans = user(&s, "hans");
    let mut luke = user(&s, "luke");
    hans.send("startprivate luke");
    luke.expect_line(&consent("hans"));
    luke.send("maybe");
    luke.expect_line(&consent("hans"));
    luke.send("n");
    hans.expect_line("luke declines private messaging");
    hans.send("private luke hi");
    hans.expect_line("Error. Private messaging to luke not enabled");
    luke.send("private hans hi");
    luke.expect_line("Error. Private messaging to hans not enabled");
    // After the answer, lines are commands again.
    luke.send("whoelse");
    luke.expect_line("hans");
    never_saw(&mut hans, "Start private messaging");
    // Asking again works.
    open(&mut hans, "hans", &mut luke, "luke");
    hans.send("private luke second time");
    luke.expect_line("hans(private): second time");
}

#[test]
fn every_error_row() {
    let s = TestServer::start();
    let mut hans = user(&s, "hans");
    let mut luke = user(&s, "luke");
    hans.send("startprivate vader");
    hans.expect_line("Error. vader is offline");
    hans.send("startprivate bob");
    hans.expect_line("Error. Invalid user");
    hans.send("startprivate hans");
    hans.expect_line("Error. Cannot start private messaging with self");
    hans.send("stopprivate luke");
    hans.expect_line("Error. No private messaging session with luke");
    hans.send("private luke hi");
    hans.expect_line("Error. Private messaging to luke not enabled");

    // Blocked: hans is refused and luke is never asked.
    luke.send("block hans");
    luke.expect_line("hans is blocked");
    hans.send("startprivate luke");
    hans.expect_line("Error. luke has blocked you");
    never_saw(&mut luke, "would like to private message");
    luke.send("unblock hans");
    luke.expect_line("hans is unblocked");

    // Peer gone.
    open(&mut hans, "hans", &mut luke, "luke");
    luke.send("logout");
    luke.expect_line("Goodbye, luke!");
    assert_eq!(luke.exit_code(), 0);
    hans.expect_all(&["luke logged out", &ended("luke")]);
    hans.send("private luke anyone");
    hans.expect_line(&unavailable("luke"));
    hans.send("stopprivate luke");
    hans.expect_line("Error. No private messaging session with luke");
    hans.send("startprivate luke");
    hans.expect_line("Error. luke is offline");
}

#[test]
fn stopprivate_from_either_side() {
    let s = TestServer::start();
    let mut yoda = user(&s, "yoda");
    let mut hans = user(&s, "hans");

    open(&mut yoda, "yoda", &mut hans, "hans");
    yoda.send("stopprivate hans");
    yoda.expect_line("Private messaging with hans stopped");
    hans.expect_line("yoda stopped private messaging");
    hans.send("private yoda hello?");
    hans.expect_line("Error. Private messaging to yoda not enabled");
    yoda.send("stopprivate hans");
    yoda.expect_line("Error. No private messaging session with hans");

    open(&mut yoda, "yoda", &mut hans, "hans");
    hans.send("stopprivate yoda");
    hans.expect_line("Private messaging with yoda stopped");
    yoda.expect_line("hans stopped private messaging");
    yoda.send("private hans hello?");
    yoda.expect_line("Error. Private messaging to hans not enabled");

    // The other direction, then messages flow again.
    open(&mut hans, "hans", &mut yoda, "yoda");
    yoda.send("private hans back again");
    hans.expect_line("yoda(private): back again");
    never_saw(&mut yoda, "logged out");
}

#[test]
fn session_survives_a_later_block() {
    let s = TestServer::start();
    let mut hans = user(&s, "hans");
    let mut luke = user(&s, "luke");
    open(&mut hans, "hans", &mut luke, "luke");
    luke.send("block hans");
    luke.expect_line("hans is blocked");
    hans.send("private luke still friends?");
    luke.expect_line("hans(private): still friends?");
    luke.send("private hans on this channel, yes");
    hans.expect_line("luke(private): on this channel, yes");
    hans.send("block luke");
    hans.expect_line("luke is blocked");
    hans.send("private luke both blocked");
    luke.expect_line("hans(private): both blocked");
    // The server itself still applies the block.
    hans.send("message luke via server");
    hans.expect_line("Your message could not be delivered as the recipient has blocked you");
    luke.seen.clear();
    hans.send("startprivate luke");
    hans.expect_line("Error. luke has blocked you");
    never_saw(&mut luke, "would like to private message");
    // And stopping still works.
    luke.send("stopprivate hans");
    luke.expect_line("Private messaging with hans stopped");
    hans.expect_line("luke stopped private messaging");
}

#[test]
fn sigkilled_peer_ends_its_sessions() {
    let s = TestServer::start();
    let mut hans = user(&s, "hans");
    let mut yoda = user(&s, "yoda");
    let mut luke = user(&s, "luke");
    // luke accepted one session and started the other.
    open(&mut hans, "hans", &mut luke, "luke");
    open(&mut luke, "luke", &mut yoda, "yoda");
    luke.kill();
    hans.expect_all(&["luke logged out", &ended("luke")]);
    yoda.expect_all(&["luke logged out", &ended("luke")]);
    hans.send("private luke are you there");
    hans.expect_line(&unavailable("luke"));
    yoda.send("private luke are you there");
    yoda.expect_line(&unavailable("luke"));
    // The survivors carry on.
    open(&mut hans, "hans", &mut yoda, "yoda");
    hans.send("private yoda just us");
    yoda.expect_line("hans(private): just us");
}

/// Presents a hello to a private-chat listener; the reader if welcomed, None if refused.
fn knock(addr: &str, hello: &str) -> Option<BufReader<TcpStream>> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(format!("{hello}\n").as_bytes()).unwrap();
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    match r.read_line(&mut line) {
        Ok(n) if n > 0 => {
            assert_eq!(line.trim(), r#"{"t":"welcome"}"#);
            Some(r)
        }
        _ => None,
    }
}

fn hello(from: &str, token: &str) -> String {
    format!(r#"{{"t":"hello","from":"{from}","token":"{token}"}}"#)
}

#[test]
fn wrong_token_is_refused() {
    let s = TestServer::start();
    let mut luke = user(&s, "luke");
    // yoda speaks the protocol directly, so the test learns luke's address and token.
    let mut yoda = Client::login(s.addr, "yoda", "wise");
    let r = yoda.call(Command::StartPrivate {
        user: "luke".into(),
    });
    assert!(r.ok, "{:?}", r.lines);
    luke.expect_line(&consent("yoda"));
    luke.send("y");
    let (addr, token) = loop {
        match yoda.event() {
            Event::PrivateAccepted {
                user, addr, token, ..
            } => {
                assert_eq!(user, "luke");
                break (addr, token);
            }
            _ => continue,
        }
    };
    let bogus = "0".repeat(token.len());
    let attempts = [
        hello("vader", &bogus),
        hello("yoda", &bogus),
        hello("vader", &token),
        r#"{"t":"msg","text":"I am yoda, trust me"}"#.to_string(),
        "not json at all".to_string(),
    ];
    std::thread::scope(|sc| {
        for hello in &attempts {
            let addr = &addr;
            sc.spawn(move || assert!(knock(addr, hello).is_none(), "accepted {hello}"));
        }
    });
    // The real peer still gets in, once.
    let mut peer = knock(&addr, &hello("yoda", &token)).expect("the right token is welcomed");
    assert!(
        knock(&addr, &hello("yoda", &token)).is_none(),
        "token reused"
    );
    peer.get_mut()
        .write_all(b"{\"t\":\"msg\",\"text\":\"hi from yoda\"}\n")
        .unwrap();
    luke.expect_line("yoda(private): hi from yoda");
    luke.send("private yoda hello yoda");
    let mut line = String::new();
    peer.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), r#"{"t":"msg","text":"hello yoda"}"#);
    never_saw(&mut luke, "vader");
    never_saw(&mut luke, "trust me");
}

#[test]
fn private_text_cannot_forge_lines() {
    let s = TestServer::start();
    let mut luke = user(&s, "luke");
    let mut yoda = Client::login(s.addr, "yoda", "wise");
    yoda.call(Command::StartPrivate {
        user: "luke".into(),
    });
    luke.expect_line(&consent("yoda"));
    luke.send("y");
    let (addr, token) = loop {
        if let Event::PrivateAccepted { addr, token, .. } = yoda.event() {
            break (addr, token);
        }
    };
    let mut peer = knock(&addr, &hello("yoda", &token)).unwrap();
    peer.get_mut()
        .write_all(b"{\"t\":\"msg\",\"text\":\"hi\\nvader: I am your father\"}\n")
        .unwrap();
    luke.expect_line("yoda(private): hi vader: I am your father");
}

#[test]
fn private_messages_count_as_activity() {
    let timeout = Duration::from_millis(400);
    let s = TestServer::with(|c| c.timeout = Some(timeout));
    let mut hans = user(&s, "hans");
    let mut luke = user(&s, "luke");
    open(&mut hans, "hans", &mut luke, "luke");
    // hans only sends private messages (for two timeouts); luke keeps alive with server
    // commands.
    let step = Duration::from_millis(40);
    let rounds = (timeout.as_millis() * 2 / step.as_millis()) as usize;
    for i in 0..rounds {
        hans.send(&format!("private luke ping {i}"));
        luke.send("whoelse");
        std::thread::sleep(step);
    }
    luke.expect_line(&format!("hans(private): ping {}", rounds - 1));
    hans.send("whoelse");
    hans.expect_line("luke");
    assert!(!hans.seen.iter().any(|l| l.contains("inactivity")));
    assert!(!luke.seen.iter().any(|l| l.contains("inactivity")));

    // Now luke goes quiet and times out; hans stays active by private messages only,
    // which fail once luke's session has ended.
    // (Not much longer than that: once luke is gone hans is idle too.)
    let rounds = (timeout.as_millis() * 16 / 10 / step.as_millis()) as usize;
    for i in 0..rounds {
        hans.send(&format!("private luke still there {i}"));
        std::thread::sleep(step);
    }
    luke.expect_line("You have been logged out due to inactivity");
    assert_eq!(luke.exit_code(), 0);
    hans.expect_all(&["luke logged out", &ended("luke")]);
    hans.expect_line(&unavailable("luke"));
}

#[test]
fn timeout_of_the_accepting_side_ends_the_session() {
    let timeout = Duration::from_millis(400);
    let s = TestServer::with(|c| c.timeout = Some(timeout));
    let mut hans = user(&s, "hans");
    let mut luke = user(&s, "luke");
    open(&mut hans, "hans", &mut luke, "luke");
    // hans (the asker) stays active with server commands; luke does nothing.
    let step = Duration::from_millis(40);
    for _ in 0..(timeout.as_millis() * 2 / step.as_millis()) {
        hans.send("whoelse");
        std::thread::sleep(step);
    }
    luke.expect_line("You have been logged out due to inactivity");
    assert_eq!(luke.exit_code(), 0);
    hans.expect_all(&["luke logged out", &ended("luke")]);
}

#[test]
fn several_sessions_mixed_with_server_commands() {
    let s = TestServer::start();
    let mut yoda = user(&s, "yoda");
    let mut luke = user(&s, "luke");
    let mut leia = user(&s, "leia");
    let mut hans = user(&s, "hans");
    open(&mut yoda, "yoda", &mut luke, "luke");
    open(&mut leia, "leia", &mut yoda, "yoda");
    open(&mut hans, "hans", &mut leia, "leia");

    yoda.send("private luke p1");
    yoda.send("message luke m1");
    yoda.send("private leia p2");
    yoda.send("broadcast b1");
    luke.expect_all(&["yoda(private): p1", "yoda: m1", "yoda: b1"]);
    leia.expect_all(&["yoda(private): p2", "yoda: b1"]);
    hans.expect_line("yoda: b1");
    luke.send("private yoda p3");
    leia.send("private yoda p4");
    leia.send("private hans p5");
    hans.send("private leia p6");
    leia.send("message yoda m2");
    yoda.expect_all(&["luke(private): p3", "leia(private): p4", "leia: m2"]);
    hans.expect_line("leia(private): p5");
    leia.expect_line("hans(private): p6");
    yoda.send("whoelse");
    yoda.expect_all(&["luke", "leia", "hans"]);
    // Per-sender order over one session.
    for i in 0..20 {
        yoda.send(&format!("private leia n{i}"));
    }
    for i in 0..20 {
        leia.expect_line(&format!("yoda(private): n{i}"));
    }

    // yoda leaves luke for hans, keeping leia.
    yoda.send("stopprivate luke");
    yoda.expect_line("Private messaging with luke stopped");
    luke.expect_line("yoda stopped private messaging");
    open(&mut yoda, "yoda", &mut hans, "hans");
    hans.send("private yoda p7");
    yoda.expect_line("hans(private): p7");
    yoda.send("private leia p8");
    leia.expect_line("yoda(private): p8");
    yoda.send("private luke p9");
    yoda.expect_line("Error. Private messaging to luke not enabled");

    // yoda leaves: both remaining peers are told, luke (stopped earlier) is not.
    yoda.send("logout");
    yoda.expect_line("Goodbye, yoda!");
    assert_eq!(yoda.exit_code(), 0);
    hans.expect_all(&["yoda logged out", &ended("yoda")]);
    leia.expect_all(&["yoda logged out", &ended("yoda")]);
    luke.expect_line("yoda logged out");
    never_saw(&mut luke, "ended as");
    // The other sessions are untouched.
    hans.send("private leia still on");
    leia.expect_line("hans(private): still on");
}

#[test]
fn stopprivate_counts_as_activity() {
    let timeout = Duration::from_millis(900);
    let s = TestServer::with(|c| c.timeout = Some(timeout));
    let mut hans = user(&s, "hans");
    let mut peers: Vec<(&str, Bin)> = ["luke", "yoda", "leia"]
        .into_iter()
        .map(|n| (n, user(&s, n)))
        .collect();
    for (name, peer) in peers.iter_mut() {
        open(&mut hans, "hans", peer, name);
    }
    // From here hans only stops sessions, one every 0.4 x timeout; the peers keep
    // themselves alive with server commands.
    let step = Duration::from_millis(90);
    for i in 0..peers.len() {
        for _ in 0..4 {
            std::thread::sleep(step);
            for (_, peer) in peers.iter_mut() {
                peer.send("whoelse");
            }
        }
        let name = peers[i].0;
        hans.send(&format!("stopprivate {name}"));
        hans.expect_line(&format!("Private messaging with {name} stopped"));
    }
    hans.send("whoelse");
    hans.expect_all(&["luke", "yoda", "leia"]);
    assert!(!hans.seen.iter().any(|l| l.contains("inactivity")));
}

#[test]
fn answer_after_the_asker_left() {
    let s = TestServer::start();
    let mut hans = user(&s, "hans");
    let mut luke = user(&s, "luke");
    hans.send("startprivate luke");
    luke.expect_line(&consent("hans"));
    hans.send("logout");
    assert_eq!(hans.exit_code(), 0);
    // BEHAVIOUR 3.4: the question is withdrawn, and a later y is an ordinary line.
    luke.expect_all(&[
        "hans withdrew the private messaging request",
        "hans logged out",
    ]);
    luke.send("y");
    luke.expect_line("Error. Invalid command");
    luke.send("private hans hi");
    luke.expect_line("Error. Private messaging to hans not enabled");
}
