//! Tests of the cluster's accounts, lockouts, blocks and offline queue on a real Redis.

use super::super::testing::RedisServer;
use super::*;

/// A fresh Redis, and two nodes' stores on it.
fn two_nodes() -> (RedisServer, RedisStore, RedisStore) {
    let redis = RedisServer::start();
    let open = || RedisStore::open(&redis.url()).unwrap();
    let (a, b) = (open(), open());
    (redis, a, b)
}

#[test]
fn one_sign_up_wins_a_name_and_failures_lock_on_every_node() {
    let (_redis, a, b) = two_nodes();
    assert!(a.add_account("yoda", "wise").unwrap());
    assert!(!b.add_account("yoda", "other").unwrap());
    assert_eq!(b.secret("yoda").unwrap().as_deref(), Some("wise"));
    assert_eq!(a.accounts().unwrap(), vec![("yoda".into(), "wise".into())]);

    let block = Duration::from_millis(60);
    assert_eq!(a.login_failed("yoda", 3, block), Ok(Failure::TryAgain(2)));
    assert_eq!(b.login_failed("yoda", 3, block), Ok(Failure::TryAgain(1)));
    assert_eq!(a.login_failed("yoda", 3, block), Ok(Failure::NowBlocked));
    assert_eq!(b.login_failed("yoda", 3, block), Ok(Failure::Blocked));
    assert!(b.is_locked("yoda").unwrap());
    assert_eq!(a.login_record("yoda").unwrap(), (Some("wise".into()), true));
    assert_eq!(a.login_record("bob").unwrap(), (None, false));
    assert!(!a.login_succeeded("yoda").unwrap(), "locked meanwhile");
    std::thread::sleep(Duration::from_millis(100));
    assert!(!a.is_locked("yoda").unwrap(), "Redis lifts the lockout");
    assert_eq!(a.login_failed("yoda", 3, block), Ok(Failure::TryAgain(2)));
    assert!(a.login_succeeded("yoda").unwrap());
    assert_eq!(b.login_failed("yoda", 3, block), Ok(Failure::TryAgain(2)));
}

#[test]
fn blocks_and_the_offline_queue_are_shared() {
    let (_redis, a, b) = two_nodes();
    a.set_block("hans", "yoda", true).unwrap();
    a.set_block("hans", "luke", true).unwrap();
    b.set_block("hans", "luke", false).unwrap();
    b.set_block("luke", "hans", true).unwrap();
    let pairs = [
        ("hans".into(), "yoda".into()),
        ("luke".into(), "hans".into()),
    ];
    assert_eq!(b.all_blocks().unwrap(), pairs);
    a.add_account("luke", "lightsaber").unwrap();
    assert_eq!(b.recipient("luke", "hans").unwrap(), (true, false, true));

    let lines = |qs: Vec<Queued>| qs.into_iter().map(|q| q.line).collect::<Vec<_>>();
    for (sent, line) in [(1, "one"), (2, "two"), (3, "three")] {
        a.queue_offline("luke", line, sent).unwrap();
    }
    assert_eq!(
        b.pending_offline("luke", 9).unwrap(),
        [
            Queued::new("one", Some(1)),
            Queued::new("two", Some(2)),
            Queued::new("three", Some(3))
        ]
    );
    assert_eq!(lines(b.pending_offline("luke", 2).unwrap()), ["one", "two"]);
    assert_eq!(b.recipient("luke", "yoda").unwrap(), (true, true, false));
    b.delivered_offline("luke", 2).unwrap();
    a.queue_offline("luke", "four", 4).unwrap();
    assert_eq!(
        lines(b.pending_offline("luke", 9).unwrap()),
        ["three", "four"]
    );
    b.delivered_offline("luke", 2).unwrap();
    assert!(!a.has_offline("luke").unwrap() && a.pending_offline("luke", 9).unwrap().is_empty());
}

/// Entries queued before send times were kept still read, without a time; a line
/// whose sender's name is all digits is not mistaken for a time.
#[test]
fn offline_entries_keep_their_send_time_and_old_ones_still_read() {
    let entry = offline_entry("hans: see you at 10 am", 1_764_700_000);
    assert_eq!(entry, "1764700000 hans: see you at 10 am");
    assert_eq!(
        read_offline_entry(entry),
        Queued::new("hans: see you at 10 am", Some(1_764_700_000))
    );
    for old in [
        "hans: hi there",
        "1234: from a numeric name",
        "yoda:  spaced",
    ] {
        assert_eq!(read_offline_entry(old.into()), Queued::new(old, None));
    }
    let numeric = offline_entry("1234: hi", 5);
    assert_eq!(
        read_offline_entry(numeric),
        Queued::new("1234: hi", Some(5))
    );
}
