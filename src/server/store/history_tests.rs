//! Tests of `history`.

use super::*;
use std::fs::OpenOptions;
use std::io::Write;
use std::time::Instant;

fn at(ts: i64) -> DateTime<Local> {
    Local.timestamp_opt(ts, 0).unwrap()
}

fn numbers(entries: &[LogEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.number).collect()
}

const T0: i64 = 1_654_000_000;

#[test]
fn append_writes_exact_lines_and_numbers_from_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.txt");
    let mut log = MessageLog::open(&path).unwrap();
    assert!(log.is_empty());
    let e = log.append("yoda", "do; or do not", at(T0)).unwrap();
    log.append("luke", "two\nlines\r", at(T0 + 1)).unwrap();
    assert_eq!((e.number, log.len()), (1, 2));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("1; {}; yoda; do; or do not", timefmt::format(&at(T0)))
    );
    assert!(lines[1].ends_with("; luke; two lines "), "{}", lines[1]);
    assert_eq!(LogEntry::from_line(lines[0]), Some(e));
}

#[test]
fn since_is_strictly_later_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.txt");
    let mut log = MessageLog::open(&path).unwrap();
    for (i, dt) in [0, 0, 1, 5, 5, 9].into_iter().enumerate() {
        log.append("u", &format!("m{i}"), at(T0 + dt)).unwrap();
    }
    assert_eq!(numbers(&log.since(T0 - 1).unwrap()), [1, 2, 3, 4, 5, 6]);
    assert_eq!(numbers(&log.since(T0).unwrap()), [3, 4, 5, 6]);
    assert_eq!(numbers(&log.since(T0 + 4).unwrap()), [4, 5, 6]);
    assert!(log.since(T0 + 9).unwrap().is_empty());
    drop(log);
    let log = MessageLog::open(&path).unwrap();
    assert_eq!(numbers(&log.since(T0 + 1).unwrap()), [4, 5, 6]);
    assert_eq!(log.since(T0 + 8).unwrap()[0].text, "m5");
}

#[test]
fn since_is_correct_when_clock_goes_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = MessageLog::open(&dir.path().join("log.txt")).unwrap();
    for dt in [10, 20, 5, 30, 15] {
        log.append("u", "x", at(T0 + dt)).unwrap();
    }
    assert_eq!(numbers(&log.since(T0 + 12).unwrap()), [2, 4, 5]);
    assert_eq!(numbers(&log.since(T0 + 25).unwrap()), [4]);
    assert_eq!(numbers(&log.since(T0).unwrap()), [1, 2, 3, 4, 5]);
}

#[test]
fn torn_tail_is_truncated_and_numbering_continues() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.txt");
    let mut log = MessageLog::open(&path).unwrap();
    log.append("a", "one", at(T0)).unwrap();
    log.append("b", "two", at(T0 + 1)).unwrap();
    drop(log);
    let good_len = std::fs::metadata(&path).unwrap().len();
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"3; 1 Jun 2022 21:3").unwrap();
    let mut log = MessageLog::open(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len);
    assert_eq!(log.append("c", "three", at(T0 + 2)).unwrap().number, 3);
    drop(log);
    let log = MessageLog::open(&path).unwrap();
    assert_eq!((log.len(), log.next_number()), (3, 4));
    assert_eq!(numbers(&log.since(T0).unwrap()), [2, 3]);
}

#[test]
fn garbage_tail_dropped_and_middle_garbage_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.txt");
    let t = timefmt::format(&at(T0));
    let body = format!("1; {t}; a; x\nnoise\n2; {t}; b; y\n3; bogus; c; z\n");
    std::fs::write(&path, body).unwrap();
    let mut log = MessageLog::open(&path).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log.append("d", "w", at(T0 + 1)).unwrap().number, 3);
    assert_eq!(numbers(&log.since(T0 - 1).unwrap()), [1, 2, 3]);
}

/// Run with `cargo test --release -- --ignored --nocapture`.
#[test]
#[ignore]
fn million_lines_open_and_since_latency() {
    let dir = tempfile::tempdir().unwrap();
    let (n, path) = (1_000_000i64, dir.path().join("big.txt"));
    let mut w = io::BufWriter::new(File::create(&path).unwrap());
    for i in 0..n {
        let t = timefmt::format(&at(T0 + i));
        writeln!(w, "{}; {t}; user{}; message number {i}; hi", i + 1, i % 97).unwrap();
    }
    w.into_inner().unwrap().sync_all().unwrap();
    let started = Instant::now();
    let log = MessageLog::open(&path).unwrap();
    println!("open of {n} lines: {:?}", started.elapsed());
    assert_eq!(log.len(), n as u64);
    let (calls, started) = (10_000, Instant::now());
    for _ in 0..calls {
        assert_eq!(log.since(T0 + n - 11).unwrap().len(), 10);
    }
    println!("since(last 10): {:?} per call", started.elapsed() / calls);
}
