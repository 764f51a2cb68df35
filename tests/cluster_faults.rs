//! A cluster under faults (BEHAVIOUR §7): a node killed with SIGKILL, Redis killed with
//! SIGKILL and restarted on its append-only file, Redis paused (SIGSTOP) and resumed.
//! Real binaries, real redis-server.

mod common;

use chinwag::protocol::{Command, Then};
use chinwag::text;
use common::cluster::{expect_text, login, Cluster};
use common::{password, Client, WAIT};
use std::time::{Duration, Instant};

/// Retries `f` (every 100 ms, for at most [`WAIT`]) until it holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_killed_nodes_users_are_logged_out_everywhere_within_10_s() {
    // A 1 s lease (5 s by default): a lapse is what this waits for.
    let mut cluster = Cluster::start(2, &["--lease", "1"]);
    let mut hans = login(&cluster, 1, "hans");
    let _yoda = login(&cluster, 0, "yoda");
    expect_text(&mut hans, &text::logged_in("yoda"));
    let killed = Instant::now();
    cluster.nodes[0].kill9();
    expect_text(&mut hans, &text::logged_out("yoda"));
    let noticed = killed.elapsed();
    println!("a node's kill -9 noticed after {noticed:?}");
    assert!(noticed < Duration::from_secs(10), "{noticed:?}");
    assert_eq!(hans.lines(Command::WhoElse), [text::NO_OTHER_USERS]);
    login(&cluster, 1, "yoda");
}

#[test]
fn nothing_acknowledged_is_lost_when_redis_is_killed_and_restarted() {
    let mut cluster = Cluster::start(2, &[]);
    let mut yoda = login(&cluster, 0, "yoda");
    for i in 1..=3 {
        let said = yoda.text_cmd(&format!("BCM before {i}"));
        assert!(said[0].starts_with(&format!("Broadcast message, #{i} ")));
    }
    let stored = yoda.text_cmd("message luke while you were out");
    assert_eq!(stored, [text::stored_offline("luke")]);
    let mut rey = Client::connect(cluster.addr(1));
    assert_eq!(rey.try_login("rey", "scavenger").then, Then::LoggedIn);
    yoda.text_cmd("CRT 3331");
    rey.text_cmd("OUT");

    cluster.redis.kill9();
    cluster.redis.restart();

    eventually("BCM numbering carries on", || {
        let said = yoda.text_cmd("BCM after");
        assert!(
            said[0].starts_with("Broadcast message, #4 ") || said == [text::SAVE_FAILED],
            "{said:?}"
        );
        said[0].starts_with("Broadcast message, #4 ")
    });
    let mut luke = login(&cluster, 1, "luke");
    expect_text(&mut luke, &text::chat("yoda", "while you were out"));
    let history = luke.text_cmd("RDM b 1 Jan 2000 00:00:00");
    assert_eq!(history.iter().filter(|l| l.starts_with('#')).count(), 4);
    assert_eq!(luke.text_cmd("LST"), [text::THREAD_LIST, "3331"]);
    Client::login(cluster.addr(0), "rey", "scavenger");
}

#[test]
fn while_redis_is_paused_nodes_refuse_clearly_and_recover_by_themselves() {
    // Calls give up after 0.5 s (2 s by default), and the lease outlives the pause.
    let cluster = Cluster::start(2, &["--redis-timeout", "0.5"]);
    let mut yoda = login(&cluster, 0, "yoda");
    let mut hans = login(&cluster, 1, "hans");
    expect_text(&mut yoda, &text::logged_in("hans"));

    cluster.redis.signal("-STOP");
    let paused = Instant::now();
    assert_eq!(yoda.text_cmd("BCM anyone"), [text::SAVE_FAILED]);
    let mut late = Client::connect(cluster.addr(1));
    let r = late.try_login("luke", password("luke"));
    assert_eq!(r.lines, [text::SERVER_UNAVAILABLE]);
    assert_eq!(r.then, Then::Exit { code: 1 });
    println!("refused within {:?} of the pause", paused.elapsed());
    cluster.redis.signal("-CONT");

    eventually("BCM works again", || {
        yoda.text_cmd("BCM back")[0].starts_with("Broadcast message, #")
    });
    expect_text(&mut hans, &text::chat("yoda", "back"));
    let luke = login(&cluster, 1, "luke");
    expect_text(&mut yoda, &text::logged_in("luke"));
    let mut again = Client::connect(cluster.addr(0));
    let r = again.try_login("hans", password("hans"));
    assert_eq!(r.lines, [text::already_logged_in("hans")], "leases held");
    drop(luke);
}
