//! The roster and the account store at the state boundary: no sockets, an explicit
//! `now` for every step, so idle expiry, `whoelsesince` windows and lockouts are exact.

use super::login::Peer;
use super::roster::Roster;
use super::store::{AccountStore, Failure, FileStore};
use std::time::{Duration, Instant};

fn peer() -> Peer {
    Peer {
        addr: "127.0.0.1:4000".parse().unwrap(),
        udp_port: 7000,
        p2p_port: 0,
    }
}

#[test]
fn touch_restarts_the_idle_clock_of_the_right_connection_only() {
    let t0 = Instant::now();
    let limit = Duration::from_secs(60);
    let mut r = Roster::default();
    r.log_in("yoda", 1, &peer(), t0);
    assert!(r
        .idle(t0 + limit - Duration::from_millis(1), limit)
        .is_empty());
    assert_eq!(r.idle(t0 + limit, limit), [("yoda".to_string(), 1)]);
    assert!(r.touch("yoda", 1, t0 + Duration::from_secs(30)));
    assert!(
        !r.touch("yoda", 2, t0 + Duration::from_secs(50)),
        "another connection"
    );
    assert!(r.idle(t0 + limit, limit).is_empty());
    assert_eq!(r.idle(t0 + Duration::from_secs(90), limit).len(), 1);
}

#[test]
fn a_stint_ends_once_and_counts_for_whoelsesince_from_its_logout() {
    let t0 = Instant::now();
    let mut r = Roster::default();
    r.log_in("yoda", 1, &peer(), t0);
    r.log_in("hans", 2, &peer(), t0);
    let gen = r.userlog_gen();
    assert!(!r.log_out("yoda", 2, t0), "not online on that connection");
    assert!(r.log_out("yoda", 1, t0 + Duration::from_secs(10)));
    assert!(
        !r.log_out("yoda", 1, t0 + Duration::from_secs(11)),
        "only once"
    );
    assert_eq!(r.userlog_gen(), gen + 1);
    let since = |secs| t0 + Duration::from_secs(20) - Duration::from_secs(secs);
    let left: Vec<&String> = r.departed_since(Some(since(10))).collect();
    assert_eq!(left, ["yoda"]);
    assert_eq!(r.departed_since(Some(since(9))).count(), 0);
    r.log_in("yoda", 3, &peer(), t0 + Duration::from_secs(30));
    assert_eq!(
        r.departed_since(None).count(),
        0,
        "a login clears the departure"
    );
    assert_eq!(r.render_userlog().lines().count(), 2);
    assert!(r.render_userlog().starts_with("1; "));
}

#[test]
fn lockouts_count_per_account_and_lift_at_their_end() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials.txt");
    let accounts = vec![("yoda".to_string(), "wise".to_string())];
    let store = FileStore::open(dir.path(), &creds, accounts, 1 << 20).unwrap();
    let (t0, block) = (Instant::now(), Duration::from_secs(10));
    let fail = |at| store.login_failed("yoda", at, 3, block).unwrap();
    assert_eq!(fail(t0), Failure::TryAgain(2));
    assert_eq!(fail(t0), Failure::TryAgain(1));
    assert_eq!(fail(t0), Failure::NowBlocked);
    assert_eq!(fail(t0 + Duration::from_secs(1)), Failure::Blocked);
    assert!(store
        .is_locked("yoda", t0 + block - Duration::from_millis(1))
        .unwrap());
    assert!(
        !store.login_succeeded("yoda", t0).unwrap(),
        "locked: no login"
    );
    store.lift_lockouts(t0 + block);
    assert!(!store.is_locked("yoda", t0 + block).unwrap());
    assert!(store.login_succeeded("yoda", t0 + block).unwrap());
    assert_eq!(
        fail(t0 + block),
        Failure::TryAgain(2),
        "the count starts again"
    );
}

#[test]
fn a_sign_up_is_added_once_and_lasts() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials.txt");
    let store = FileStore::open(dir.path(), &creds, Vec::new(), 1 << 20).unwrap();
    assert!(store.add_account("luke", "pw").unwrap());
    assert!(!store.add_account("luke", "other").unwrap());
    assert_eq!(store.secret("luke").unwrap().as_deref(), Some("pw"));
    let file = std::fs::read_to_string(&creds).unwrap();
    assert_eq!(file, "luke pw\n");
}
