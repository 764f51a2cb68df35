//! Every feature across the nodes of a cluster (BEHAVIOUR §7), through real binaries:
//! one redis-server and two or three `chinwag-server --cluster` nodes per test, clients
//! spread over the nodes.

mod common;

use chinwag::protocol::{Command, Event, Farewell, Then};
use chinwag::text;
use common::cluster::{expect_text, login, Cluster};
use common::{password, Client};

#[test]
fn one_login_per_user_and_lockouts_count_on_every_node() {
    let cluster = Cluster::start(2, &["--attempts", "3"]);
    let _yoda = login(&cluster, 0, "yoda");
    let mut again = Client::connect(cluster.addr(1));
    let r = again.try_login("yoda", password("yoda"));
    assert_eq!(r.lines, [text::already_logged_in("yoda")]);

    let mut tries = Vec::new();
    for node in [0, 1, 0] {
        let mut c = Client::connect(cluster.addr(node));
        tries.push(c.try_login("hans", "wrong").lines);
    }
    assert_eq!(tries[0], [text::INVALID_PASSWORD_RETRY]);
    assert_eq!(tries[2], [text::INVALID_PASSWORD_BLOCKED]);
    let mut late = Client::connect(cluster.addr(1));
    let r = late.try_login("hans", password("hans"));
    assert_eq!(
        r.lines,
        [text::ACCOUNT_BLOCKED],
        "locked on the other node too"
    );

    let mut rey = Client::connect(cluster.addr(0));
    assert_eq!(rey.try_login("rey", "scavenger").then, Then::LoggedIn);
    rey.call(Command::Logout {
        how: Farewell::Logout,
    });
    Client::login(cluster.addr(1), "rey", "scavenger");
}

#[test]
fn presence_whoelse_and_atu_cover_every_node() {
    let cluster = Cluster::start(3, &[]);
    let mut yoda = login(&cluster, 0, "yoda");
    let mut hans = login(&cluster, 1, "hans");
    expect_text(&mut yoda, &text::logged_in("hans"));
    let luke = login(&cluster, 2, "luke");
    expect_text(&mut yoda, &text::logged_in("luke"));
    expect_text(&mut hans, &text::logged_in("luke"));
    assert_eq!(yoda.lines(Command::WhoElse), ["hans", "luke"]);
    let atu = yoda.lines(Command::Atu);
    assert_eq!(atu.len(), 2, "{atu:?}");
    assert!(atu[0].starts_with("hans, 127.0.0.1, "), "{atu:?}");
    drop(luke);
    expect_text(&mut yoda, &text::logged_out("luke"));
    expect_text(&mut hans, &text::logged_out("luke"));
    assert_eq!(yoda.lines(Command::WhoElse), ["hans"]);
    let since = yoda.lines(Command::WhoElseSince { secs: 60 });
    assert_eq!(since, ["hans", "luke"]);
}

#[test]
fn messages_reach_users_on_other_nodes_live_and_offline() {
    let cluster = Cluster::start(3, &[]);
    let mut yoda = login(&cluster, 0, "yoda");
    let mut hans = login(&cluster, 1, "hans");
    assert!(yoda.text_cmd("message hans hello there").is_empty());
    expect_text(&mut hans, &text::chat("yoda", "hello there"));
    let before = chinwag::server::store::unix_now();
    let stored = hans.text_cmd("message luke are you there");
    assert_eq!(stored, [text::stored_offline("luke")]);
    let after = chinwag::server::store::unix_now();
    let mut luke = login(&cluster, 2, "luke");
    // Kept in Redis with its send time, which the event carries.
    match luke.event() {
        Event::Text {
            text,
            sent: Some(sent),
        } => {
            assert_eq!(text, text::chat("hans", "are you there"));
            assert!((before..=after).contains(&sent), "{before} {sent} {after}");
        }
        other => panic!("{other:?}"),
    }
    assert!(luke.text_cmd("message yoda found it").is_empty());
    expect_text(&mut yoda, &text::chat("luke", "found it"));
}

#[test]
fn broadcasts_share_one_gapless_numbering_and_rdm_reads_them_all() {
    let cluster = Cluster::start(2, &[]);
    let mut yoda = login(&cluster, 0, "yoda");
    let mut hans = login(&cluster, 1, "hans");
    for i in 1..=6 {
        let (from, to, name) = match i % 2 {
            0 => (&mut hans, &mut yoda, "hans"),
            _ => (&mut yoda, &mut hans, "yoda"),
        };
        let said = from.text_cmd(&format!("BCM m{i}"));
        assert!(
            said[0].starts_with(&format!("Broadcast message, #{i} ")),
            "{said:?}"
        );
        expect_text(to, &text::chat(name, &format!("m{i}")));
    }
    assert!(yoda.text_cmd("broadcast plain").is_empty());
    expect_text(&mut hans, &text::chat("yoda", "plain"));
    let history = hans.text_cmd("RDM b 1 Jan 2000 00:00:00");
    let numbered: Vec<&String> = history.iter().filter(|l| l.starts_with('#')).collect();
    assert_eq!(numbered.len(), 7, "{history:?}");
    assert!(numbered[6].starts_with("#7"), "{history:?}");
}

#[test]
fn rooms_have_members_on_any_node() {
    let cluster = Cluster::start(3, &[]);
    let mut yoda = login(&cluster, 0, "yoda");
    let mut hans = login(&cluster, 1, "hans");
    let mut luke = login(&cluster, 2, "luke");
    let made = yoda.text_cmd("SRB hans luke");
    assert!(made[0].contains("room ID: 1"), "{made:?}");
    let again = hans.text_cmd("SRB yoda luke");
    assert!(again[0].contains("(ID: 1) already created"), "{again:?}");
    let said = hans.text_cmd("SRM 1 hi room");
    assert!(said[0].starts_with("Separate room message, #1"), "{said:?}");
    for c in [&mut yoda, &mut luke] {
        let got = loop {
            let t = c.text();
            if t.contains("hi room") {
                break t;
            }
        };
        assert!(got.contains("hans"), "{got}");
    }
    let said = luke.text_cmd("SRM 1 second");
    assert!(said[0].starts_with("Separate room message, #2"), "{said:?}");
    let history = yoda.text_cmd("RDM s 1 Jan 2000 00:00:00");
    assert!(history.iter().any(|l| l.contains("hi room")), "{history:?}");
    assert!(history.iter().any(|l| l.contains("second")), "{history:?}");
}

#[test]
fn blocks_hold_on_every_node() {
    let cluster = Cluster::start(2, &[]);
    let mut yoda = login(&cluster, 0, "yoda");
    let mut hans = login(&cluster, 1, "hans");
    expect_text(&mut yoda, &text::logged_in("hans"));
    let mut luke = login(&cluster, 1, "luke");
    expect_text(&mut yoda, &text::logged_in("luke"));
    assert_eq!(hans.text_cmd("block yoda"), [text::blocked("yoda")]);
    // Lists ask Redis: the block holds on yoda's node at once.
    let whoelse = |c: &mut Client| c.lines(Command::WhoElse);
    assert_eq!(whoelse(&mut yoda), ["luke"]);
    // A line luke's node publishes after the block reaches node a after the block's own
    // publish: by then node a's fan-out rule has it too.
    assert!(luke.text_cmd("message yoda sync").is_empty());
    expect_text(&mut yoda, &text::chat("luke", "sync"));
    let refused = yoda.text_cmd("message hans hello");
    assert_eq!(refused, [text::RECIPIENT_BLOCKED_YOU]);
    assert_eq!(yoda.text_cmd("broadcast anyone"), [text::SOME_RECIPIENTS]);
    // luke, on hans's node, has the broadcast: node b fanned it out before the unblock
    // (a bus line reaches a node a moment after it is sent).
    expect_text(&mut luke, &text::chat("yoda", "anyone"));
    assert_eq!(hans.text_cmd("unblock yoda"), [text::unblocked("yoda")]);
    assert_eq!(whoelse(&mut yoda), ["hans", "luke"]);
    assert!(yoda.text_cmd("message hans again").is_empty());
    expect_text(&mut hans, &text::chat("yoda", "again"));
}

#[test]
fn the_forum_is_one_forum() {
    let cluster = Cluster::start(2, &[]);
    let mut yoda = login(&cluster, 0, "yoda");
    let mut hans = login(&cluster, 1, "hans");
    yoda.text_cmd("CRT 3331");
    assert!(
        !hans
            .call(Command::Crt {
                title: "3331".into()
            })
            .ok
    );
    hans.text_cmd("MSG 3331 Networks is awesome");
    yoda.text_cmd("MSG 3331 mine");
    assert!(hans.text_cmd("EDT 3331 1 Networks rocks")[0].contains("edited"));
    assert_eq!(hans.text_cmd("DLT 3331 2"), [text::NOT_AUTHOR_DELETE]);
    let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    assert!(yoda.upload("3331", "notes.bin", &data).ok);
    assert_eq!(hans.download("3331", "notes.bin").unwrap(), data);
    let read = hans.text_cmd("RDT 3331");
    assert_eq!(
        read,
        [
            "1 hans: Networks rocks",
            "2 yoda: mine",
            "yoda uploaded notes.bin"
        ]
    );
    assert_eq!(hans.text_cmd("LST"), [text::THREAD_LIST, "3331"]);
    assert_eq!(hans.text_cmd("RMV 3331"), [text::NOT_CREATOR]);
    assert_eq!(yoda.text_cmd("RMV 3331"), [text::THREAD_REMOVED]);
    assert_eq!(hans.text_cmd("LST"), [text::NO_THREADS]);
}

#[test]
fn an_idle_user_is_logged_out_everywhere() {
    let cluster = Cluster::start(2, &["--timeout", "1"]);
    let mut hans = login(&cluster, 1, "hans");
    let _yoda = login(&cluster, 0, "yoda");
    // hans stays active (a command every 100 ms) while yoda, on the other node, idles.
    let gone = Event::text(text::logged_out("yoda"));
    let deadline = std::time::Instant::now() + common::WAIT;
    while !hans.events.contains(&gone) {
        assert!(std::time::Instant::now() < deadline, "{:?}", hans.events);
        hans.lines(Command::WhoElse);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(hans.lines(Command::WhoElse), [text::NO_OTHER_USERS]);
}

#[test]
fn peers_on_different_nodes_are_brokered() {
    let cluster = Cluster::start(2, &[]);
    let mut yoda = login(&cluster, 0, "yoda");
    let mut hans = Client::connect(cluster.addr(1));
    hans.call(Command::Hello {
        udp_port: 9999,
        p2p_port: 9998,
    });
    hans.call(Command::Username {
        name: "hans".into(),
    });
    let r = hans.call(Command::Password {
        password: password("hans").into(),
    });
    assert_eq!(r.then, Then::LoggedIn);
    hans.name = "hans".into();

    assert!(
        yoda.call(Command::StartPrivate {
            user: "hans".into()
        })
        .ok
    );
    let asked = loop {
        match hans.event() {
            Event::PrivateRequest { from } => break from,
            _ => continue,
        }
    };
    assert_eq!(asked, "yoda");
    let answer = hans.call(Command::PrivateAnswer {
        from: "yoda".into(),
        accept: true,
        fingerprint: None,
    });
    assert!(matches!(answer.then, Then::AwaitPeer { .. }), "{answer:?}");
    let addr = loop {
        match yoda.event() {
            Event::PrivateAccepted { user, addr, .. } => break (user, addr),
            _ => continue,
        }
    };
    assert_eq!(addr, ("hans".to_string(), "127.0.0.1:9998".to_string()));

    let sent = yoda.call(Command::Udp {
        user: "hans".into(),
        file: "lecture1.mp4".into(),
    });
    assert!(
        matches!(&sent.then, Then::UdpSend { addr, .. } if addr == "127.0.0.1:9999"),
        "{sent:?}"
    );
    let incoming = loop {
        match hans.event() {
            Event::UdpIncoming { from, file, .. } => break (from, file),
            _ => continue,
        }
    };
    assert_eq!(incoming, ("yoda".to_string(), "lecture1.mp4".to_string()));
}
