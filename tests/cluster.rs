//! The cluster (BEHAVIOUR §7) through the real binaries: each test starts its own
//! redis-server (a temp dir, appendonly yes, appendfsync always) and two or three
//! `chinwag-server --cluster` nodes, each with a data directory of its own.

mod common;

use chinwag::protocol::{Command, Event};
use chinwag::server::node::{BusMsg, Target};
use common::redis_server::RedisServer;
use common::{password, Client, ServerProc, CREDENTIALS};
use std::path::Path;
use std::time::{Duration, Instant};

/// A data directory holding `credentials`.
fn data_dir(credentials: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("credentials.txt"), credentials).unwrap();
    dir
}

/// The members of a Redis set, sorted.
fn members(redis: &RedisServer, set: &str) -> Vec<String> {
    let mut names: Vec<String> =
        redis::from_redis_value(redis.command(&["SMEMBERS", set])).unwrap();
    names.sort();
    names
}

/// Waits (at most `within`) until `f` holds.
fn within(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `chinwag-server export --cluster URL DIR`, which must succeed; what it printed.
fn export(redis: &RedisServer, dir: &Path) -> String {
    let dir = dir.to_str().unwrap();
    let (status, out, err) = ServerProc::run_to_exit(&["export", "--cluster", &redis.url(), dir]);
    assert!(status.success(), "export failed: {err}");
    out
}

#[test]
fn a_bad_url_an_unreachable_redis_or_an_unknown_format_stops_start_up_with_one_line() {
    let dir = data_dir(CREDENTIALS);
    let d = dir.path().to_str().unwrap();
    let gone = dir.path().join("none.sock");
    let gone = format!("redis+unix://{}", gone.display());
    let redis = RedisServer::start();
    redis.command(&["SET", "chinwag:format", "99"]);
    let url = redis.url();
    for (cluster, says) in [
        ("http://example.com", "Cannot join the cluster"),
        (gone.as_str(), "Cannot join the cluster"),
        ("redis://127.0.0.1:1", "Cannot join the cluster"),
        (url.as_str(), "format 99"),
    ] {
        let args = ["0", "--data-dir", d, "--cluster", cluster];
        let (status, _, err) = ServerProc::run_to_exit(&args);
        assert!(!status.success(), "{cluster}: started");
        assert_eq!(err.lines().count(), 1, "{cluster}: {err:?}");
        assert!(err.contains(says), "{cluster}: {err:?}");
    }
    let (status, _, err) = ServerProc::run_to_exit(&["export", "--cluster", &url, d]);
    assert!(!status.success() && err.contains("format 99"), "{err:?}");
}

#[test]
fn every_nodes_credentials_are_added_once_and_export_writes_them() {
    let redis = RedisServer::start();
    let (a_dir, b_dir) = (
        data_dir(CREDENTIALS),
        data_dir("rey scavenger\nyoda other\n"),
    );
    let _a = ServerProc::node(a_dir.path(), &redis.url(), "a", &[]);
    let _b = ServerProc::node(b_dir.path(), &redis.url(), "b", &[]);
    let out = tempfile::tempdir().unwrap();
    let printed = export(&redis, out.path());
    assert!(
        printed.starts_with("Exported 7 accounts, 0 broadcasts"),
        "{printed}"
    );
    let exported = std::fs::read_to_string(out.path().join("credentials.txt")).unwrap();
    let mut want: Vec<String> = CREDENTIALS.lines().map(str::to_string).collect();
    // In the order they were added: a's file, then what b's added.
    want.push("rey scavenger".into());
    assert_eq!(
        exported.lines().collect::<Vec<_>>(),
        want,
        "yoda keeps a's password"
    );
    let mode = std::fs::metadata(out.path().join("credentials.txt")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read(out.path().join("messagelog.txt")).unwrap(),
        b""
    );
}

#[test]
fn a_node_killed_with_sigkill_is_noticed_within_10_s() {
    let redis = RedisServer::start();
    let (a_dir, b_dir) = (data_dir(CREDENTIALS), data_dir(CREDENTIALS));
    // A 1 s lease (5 s by default): a lapse is what this waits for.
    let lease = ["--lease", "1"];
    let mut a = ServerProc::node(a_dir.path(), &redis.url(), "a", &lease);
    let _b = ServerProc::node(b_dir.path(), &redis.url(), "b", &lease);
    assert_eq!(members(&redis, "chinwag:1:nodes"), ["a", "b"]);
    a.kill9();
    within("a is reaped", Duration::from_secs(10), || {
        members(&redis, "chinwag:1:nodes") == ["b"]
    });
}

#[test]
fn sht_on_one_node_stops_every_node() {
    let redis = RedisServer::start();
    let (a_dir, b_dir) = (data_dir(CREDENTIALS), data_dir(CREDENTIALS));
    let admin = ["--admin-password", "destroy"];
    let mut a = ServerProc::node(a_dir.path(), &redis.url(), "a", &admin);
    let mut b = ServerProc::node(b_dir.path(), &redis.url(), "b", &admin);
    let mut yoda = Client::login(a.addr, "yoda", password("yoda"));
    let mut hans = Client::login(b.addr, "hans", password("hans"));
    yoda.send(Command::Sht {
        password: "destroy".into(),
    });
    for client in [&mut yoda, &mut hans] {
        let bye = loop {
            if let Event::Bye { text, .. } = client.event() {
                break text;
            }
        };
        assert_eq!(bye, chinwag::text::SHUTTING_DOWN);
    }
    assert!(a.wait().success() && b.wait().success());
}

#[test]
fn a_node_joins_by_host_and_port_and_is_named_after_them() {
    let redis = RedisServer::start_tcp();
    assert!(redis.url().starts_with("redis://127.0.0.1:"));
    let dir = data_dir(CREDENTIALS);
    let args = ["--cluster", &redis.url()];
    let node = ServerProc::start(dir.path(), &args);
    let port = node.addr.port();
    let nodes = members(&redis, "chinwag:1:nodes");
    assert_eq!(nodes.len(), 1);
    assert!(nodes[0].ends_with(&format!(":{port}")), "{nodes:?}");
}

#[test]
fn export_writes_what_every_node_saved_as_a_single_servers_files() {
    let cluster = common::cluster::Cluster::start(2, &[]);
    let mut yoda = Client::login(cluster.addr(0), "yoda", password("yoda"));
    let mut hans = Client::login(cluster.addr(1), "hans", password("hans"));
    yoda.text_cmd("BCM do or do not");
    hans.text_cmd("BCM there is no try");
    yoda.text_cmd("SRB hans");
    hans.text_cmd("SRM 1 hi room");
    hans.text_cmd("CRT 3331");
    yoda.text_cmd("MSG 3331 Networks is awesome");
    let out = tempfile::tempdir().unwrap();
    let printed = export(&cluster.redis, out.path());
    assert!(
        printed.starts_with("Exported 6 accounts, 2 broadcasts, 1 rooms and 1 threads"),
        "{printed}"
    );
    let read = |name: &str| std::fs::read_to_string(out.path().join(name)).unwrap();
    let log: Vec<String> = read("messagelog.txt").lines().map(str::to_string).collect();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[0].starts_with("1; ") && log[0].ends_with("; yoda; do or do not"));
    assert!(log[1].starts_with("2; ") && log[1].ends_with("; hans; there is no try"));
    assert!(read("SR_1_messagelog.txt")
        .trim_end()
        .ends_with("; hans; hi room"));
    assert_eq!(read("threads/3331"), "hans\n1 yoda: Networks is awesome\n");
}

/// Publishes `msg` on the cluster's bus as a node named "elsewhere" would.
fn publish(redis: &RedisServer, msg: &BusMsg) {
    let payload = serde_json::to_string(msg).unwrap();
    redis.command(&["PUBLISH", &chinwag::cluster::bus::channel("all"), &payload]);
}

/// A presence notice that crosses the bus late: one made before a user here logged in is
/// not for them.
#[test]
fn a_late_notice_is_not_shown() {
    let redis = RedisServer::start();
    let dir = data_dir(CREDENTIALS);
    let a = ServerProc::node(dir.path(), &redis.url(), "a", &[]);
    let deliver = |to: Target, text: &str| BusMsg::Deliver {
        origin: "elsewhere".into(),
        to,
        event: Event::text(text.to_string()),
    };
    let mut luke = Client::login(a.addr, "luke", password("luke"));
    let logged_in_ms = chrono::Utc::now().timestamp_millis();
    let before = Target::Presence {
        about: "leia".into(),
        made_ms: Some(logged_in_ms - 60_000),
    };
    publish(&redis, &deliver(before, "leia logged in"));
    let after = Target::Presence {
        about: "obi".into(),
        made_ms: Some(logged_in_ms + 60_000),
    };
    publish(&redis, &deliver(after, "obi logged in"));
    assert_eq!(
        luke.text(),
        "obi logged in",
        "leia's came before luke's login"
    );
}

/// A direct message that crosses the bus as its recipient logs out is kept by the node
/// that had them when the sender looked (the bus line names it), and by no other: hans
/// gets it once, at his next login. One that finds him on another node by then is kept
/// and sent on to him there at once.
#[test]
fn a_message_crossing_a_logout_is_kept_once_and_sent_on() {
    let redis = RedisServer::start();
    let dir = data_dir(CREDENTIALS);
    let a = ServerProc::node(dir.path(), &redis.url(), "a", &[]);
    let b = ServerProc::node(dir.path(), &redis.url(), "b", &[]);
    let dm = |at: &str, text: &str| BusMsg::Deliver {
        origin: "elsewhere".into(),
        to: Target::User {
            from: "yoda".into(),
            to: "hans".into(),
            at: Some(at.into()),
        },
        event: Event::text(text.to_string()),
    };
    within(
        "both nodes listen to the bus",
        Duration::from_secs(5),
        || {
            let bus = chinwag::cluster::bus::channel("all");
            let counts = redis.command(&["PUBSUB", "NUMSUB", &bus]);
            redis::from_redis_value::<(String, u32)>(counts).is_ok_and(|(_, n)| n == 2)
        },
    );
    publish(&redis, &dm("nowhere", "yoda: for a node that is gone"));
    publish(&redis, &dm("b", "yoda: kept by b"));
    let queued = || {
        let keys = redis.command(&["KEYS", "*offline*hans*"]);
        redis::from_redis_value::<Vec<String>>(keys).is_ok_and(|k| !k.is_empty())
    };
    within("b keeps the message", Duration::from_secs(5), queued);
    let mut hans = Client::login(a.addr, "hans", password("hans"));
    assert_eq!(hans.text(), "yoda: kept by b");
    within("the queue is emptied", Duration::from_secs(5), || !queued());

    publish(&redis, &dm("b", "yoda: sent on to a"));
    assert_eq!(
        hans.text(),
        "yoda: sent on to a",
        "b kept it, a delivered it"
    );
    within("the queue is emptied", Duration::from_secs(5), || !queued());
    drop(b);
}

/// A block that Redis has but whose publish has not reached a node yet (here: saved in
/// Redis by hand, never published) already holds for that node's lists.
#[test]
fn lists_follow_the_blocks_in_redis() {
    let redis = RedisServer::start();
    let dir = data_dir(CREDENTIALS);
    let a = ServerProc::node(dir.path(), &redis.url(), "a", &[]);
    let b = ServerProc::node(dir.path(), &redis.url(), "b", &[]);
    let mut hans = Client::login(a.addr, "hans", password("hans"));
    let mut yoda = Client::login(b.addr, "yoda", password("yoda"));
    let mut luke = Client::login(b.addr, "luke", password("luke"));
    assert_eq!(yoda.lines(Command::WhoElse), ["hans", "luke"]);
    let blocks = format!("chinwag:{}:blocks", chinwag::cluster::FORMAT);
    redis.command(&["SADD", &blocks, "hans yoda"]);
    assert_eq!(yoda.lines(Command::WhoElse), ["luke"]);
    assert_eq!(yoda.text_cmd("whoelsesince 60"), ["luke"]);
    let atu = yoda.text_cmd("ATU");
    assert!(atu.len() == 1 && atu[0].starts_with("luke, "), "{atu:?}");
    assert_eq!(yoda.text_cmd("SRB hans"), ["Error. hans is offline"]);
    assert_eq!(luke.lines(Command::WhoElse), ["hans", "yoda"]);
    hans.text_cmd("logout");
}
