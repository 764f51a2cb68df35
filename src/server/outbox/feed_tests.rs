//! The presence feed at the state boundary: the log's order, filters, bound and pass
//! timing with an explicit `now` and no sockets; then, over a socket pair, that a client
//! reads notices and other lines in the order they were made.

use super::feed::{Cursor, Lagged, Log, MAX_FEED};
use super::*;
use std::time::{Duration, Instant};

fn notice(text: &str, about: Option<ConnId>, except: &[&str]) -> Notice {
    let line: Arc<[u8]> = format!("{text}\n").into_bytes().into();
    Notice::new(line, about, except.iter().map(|u| u.to_string()).collect())
}

use crate::server::state::ConnId;

/// Everything `cur` may read below `upto`, as text.
fn read_all(log: &Log, cur: &mut Cursor, upto: u64) -> Result<Vec<String>, Lagged> {
    let mut got = Vec::new();
    log.read(cur, upto, usize::MAX, |l| {
        got.push(String::from_utf8_lossy(l).trim_end().to_string());
        true
    })?;
    Ok(got)
}

#[test]
fn the_first_notice_is_due_at_once_later_ones_a_linger_after_the_last_pass() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut log = Log::default();
    assert_eq!(log.publish(notice("a", None, &[]), t0), Some(t0));
    assert_eq!(
        log.publish(notice("b", None, &[]), t0 + ms(1)),
        None,
        "arranged"
    );
    log.pass_started(t0 + ms(2));
    let due = log.publish(notice("c", None, &[]), t0 + ms(10));
    assert_eq!(due, Some(t0 + ms(2) + NOTICE_LINGER));
    log.pass_started(t0 + ms(2) + NOTICE_LINGER);
    let late = t0 + ms(2) + 3 * NOTICE_LINGER;
    assert_eq!(
        log.publish(notice("d", None, &[]), late),
        Some(late),
        "quiet: at once"
    );
}

/// A notice from another node reached this one late: a user who logged in here after it
/// happened is not told (else two users logging in one after the other on two nodes
/// could each be told of the other).
#[test]
fn a_notice_made_elsewhere_is_only_for_those_logged_in_by_then() {
    let t0 = Instant::now();
    let mut log = Log::default();
    log.publish(notice("luke logged in", None, &[]).made_at(Some(1_000)), t0);
    log.publish(notice("leia logged in", None, &[]).made_at(Some(2_000)), t0);
    log.publish(notice("obi logged in", None, &[]), t0);
    let read = |since| {
        let mut cur = Cursor::new(0, 1, "yoda").logged_in_at(since);
        read_all(&log, &mut cur, log.head()).unwrap()
    };
    let all = ["luke logged in", "leia logged in", "obi logged in"];
    assert_eq!(read(999), all);
    assert_eq!(read(1_000), all, "the same millisecond still counts");
    assert_eq!(read(1_500), ["leia logged in", "obi logged in"]);
    assert_eq!(read(2_001), ["obi logged in"]);
}

#[test]
fn a_reader_gets_notices_in_order_but_its_own_and_those_of_the_estranged() {
    let t0 = Instant::now();
    let mut log = Log::default();
    log.publish(notice("yoda logged in", Some(1), &[]), t0);
    log.publish(notice("hans logged in", Some(2), &[]), t0);
    log.publish(notice("leia logged in", Some(3), &["hans"]), t0);
    log.publish(notice("luke logged in", None, &["obi"]), t0);
    let mut hans = Cursor::new(0, 2, "hans");
    let got = read_all(&log, &mut hans, log.head()).unwrap();
    assert_eq!(got, ["yoda logged in", "luke logged in"]);
    assert_eq!(hans.next, 4);
    let mut obi = Cursor::new(1, 9, "obi");
    let got = read_all(&log, &mut obi, log.head()).unwrap();
    assert_eq!(got, ["hans logged in", "leia logged in"]);
}

#[test]
fn a_reader_stops_at_upto_at_its_until_and_after_max() {
    let t0 = Instant::now();
    let mut log = Log::default();
    for n in 0..10 {
        log.publish(notice(&n.to_string(), None, &[]), t0);
    }
    let mut cur = Cursor::new(0, 1, "yoda");
    assert_eq!(read_all(&log, &mut cur, 3).unwrap(), ["0", "1", "2"]);
    let mut got = Vec::new();
    log.read(&mut cur, log.head(), 2, |l| {
        got.push(l.clone());
        true
    })
    .unwrap();
    assert_eq!((got.len(), cur.next), (2, 5));
    cur.until = 7;
    assert_eq!(read_all(&log, &mut cur, log.head()).unwrap(), ["5", "6"]);
    assert_eq!(
        read_all(&log, &mut cur, log.head()).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn a_refusing_taker_keeps_the_cursor_on_the_notice_it_refused() {
    let mut log = Log::default();
    for n in 0..3 {
        log.publish(notice(&n.to_string(), None, &[]), Instant::now());
    }
    let mut cur = Cursor::new(0, 1, "yoda");
    let mut taken = 0;
    log.read(&mut cur, 3, usize::MAX, |_| {
        taken += 1;
        taken < 2
    })
    .unwrap();
    assert_eq!(cur.next, 1, "the second was refused, not read");
}

#[test]
fn the_log_is_bounded_in_bytes_and_a_reader_left_behind_has_lagged() {
    let t0 = Instant::now();
    let mut log = Log::default();
    let text = "x".repeat(1000);
    let n = MAX_FEED / 1000 + 10;
    for _ in 0..n {
        log.publish(notice(&text, None, &[]), t0);
    }
    assert_eq!(log.head(), n as u64);
    let mut behind = Cursor::new(0, 1, "yoda");
    assert_eq!(read_all(&log, &mut behind, log.head()), Err(Lagged));
    let kept = MAX_FEED / (1001 + ITEM_COST);
    let mut recent = Cursor::new(log.head() - kept as u64, 2, "hans");
    assert_eq!(read_all(&log, &mut recent, log.head()).unwrap().len(), kept);
}

#[test]
fn trimming_forgets_what_every_reader_has_read_and_only_that() {
    let t0 = Instant::now();
    let mut log = Log::default();
    for n in 0..5 {
        log.publish(notice(&n.to_string(), None, &[]), t0);
    }
    log.trim(3);
    let mut cur = Cursor::new(3, 1, "yoda");
    assert_eq!(read_all(&log, &mut cur, 5).unwrap(), ["3", "4"]);
    assert_eq!(
        read_all(&log, &mut Cursor::new(2, 1, "yoda"), 5),
        Err(Lagged)
    );
    log.trim(5);
    assert_eq!(log.head(), 5, "numbering goes on");
    log.publish(notice("5", None, &[]), t0);
    assert_eq!(read_all(&log, &mut cur, 6).unwrap(), ["5"]);
}

/// A connection on loopback and its client's end, which reads with a timeout.
fn socket_pair() -> (Conn, TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (Conn::new(Arc::new(listener.accept().unwrap().0)), client)
}

fn read_lines(client: &TcpStream, n: usize) -> Vec<String> {
    use std::io::{BufRead, BufReader};
    let lines = BufReader::new(client).lines().take(n);
    lines
        .map(|l| l.expect("a line before the timeout"))
        .collect()
}

/// Trimming after a pass keeps what a client who subscribed during the pass, or one
/// who unsubscribed before its notices were written, still has to get.
#[test]
fn a_pass_forgets_nothing_a_newer_or_leaving_subscriber_needs() {
    let feed = Arc::new(Feed::default());
    let now = Instant::now;
    let ((yoda, _y), (hans, hans_end), (leia, leia_end)) =
        (socket_pair(), socket_pair(), socket_pair());
    feed.subscribe(&yoda, 1, "yoda");
    feed.subscribe(&leia, 3, "leia");
    feed.publish(notice("luke logged in", None, &[]), now());
    let listed = feed.pass(now());
    feed.subscribe(&hans, 2, "hans");
    feed.publish(notice("obi logged in", None, &[]), now());
    feed.unsubscribe(&leia);
    for conn in listed {
        conn.write(By::Feed);
    }
    feed.passed();
    assert!(hans.send(Out::Line(b"hans: after\n".to_vec().into())));
    assert_eq!(read_lines(&hans_end, 2), ["obi logged in", "hans: after"]);
    assert!(leia.send(Out::Line(b"Bye, leia!\n".to_vec().into())));
    let got = read_lines(&leia_end, 3);
    assert_eq!(got, ["luke logged in", "obi logged in", "Bye, leia!"]);
    feed.unsubscribe(&yoda);
    feed.unsubscribe(&hans);
}

/// Over a socket: notices published before a line arrive before it, those after it
/// after it, and none published after the close.
#[test]
fn notices_and_lines_reach_a_client_in_the_order_they_were_made() {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let conn = Conn::new(Arc::new(listener.accept().unwrap().0));
    let feed = Arc::new(Feed::default());
    feed.publish(notice("before login", None, &[]), Instant::now());
    feed.subscribe(&conn, 7, "hans");
    let now = Instant::now;
    feed.publish(notice("yoda logged in", Some(1), &[]), now());
    feed.publish(notice("own notice", Some(7), &[]), now());
    assert!(conn.send(Out::Line(b"yoda: hi\n".to_vec().into())));
    feed.publish(notice("leia logged in", Some(2), &[]), now());
    feed.publish(notice("hidden", Some(3), &["hans"]), now());
    feed.publish(notice("luke logged in", Some(4), &[]), now());
    assert!(conn.send(Out::Close));
    feed.publish(notice("after close", Some(5), &[]), now());
    let got: Vec<String> = BufReader::new(&client)
        .lines()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        got,
        [
            "yoda logged in",
            "yoda: hi",
            "leia logged in",
            "luke logged in"
        ]
    );
    feed.unsubscribe(&conn);
}
