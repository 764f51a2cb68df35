//! Capacity and cost per client, through the real server binary: one thread per client,
//! the client cap worked out from the machine (printed; a larger --max-clients refused in
//! one line), and a client that stops reading costs a few MiB before it is disconnected
//! while everyone else keeps getting their messages.

mod common;

use chinwag::protocol::{Command, Event, ServerMsg};
use common::{Link, ServerProc, CREDENTIALS, WAIT};
use std::io::Read;
use std::net::TcpStream;
use std::process::Command as Proc;
use std::time::Instant;

fn server(args: &[&str]) -> (tempfile::TempDir, ServerProc) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("credentials.txt"), CREDENTIALS).unwrap();
    let s = ServerProc::start(dir.path(), args);
    (dir, s)
}

/// A field of /proc/PID/status, in its own unit (kB for memory).
fn status(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find(|l| l.starts_with(field)).unwrap();
    line[field.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn login(s: &ServerProc, user: &str) -> Link {
    Link::login(s.addr, user, common::password(user))
        .unwrap_or_else(|| panic!("{user} not welcomed"))
        .0
}

#[test]
fn the_client_cap_is_worked_out_and_printed_at_start() {
    let (_dir, s) = server(&[]);
    let deadline = Instant::now() + WAIT;
    let line = loop {
        let line = s.out.recv_timeout(WAIT).expect("a capacity line");
        if line.starts_with("Serving at most ") || Instant::now() > deadline {
            break line;
        }
    };
    assert!(line.contains("clients; this machine can hold"), "{line}");
    assert!(
        line.contains("vm.max_map_count") && line.contains("open files"),
        "{line}"
    );
}

#[test]
fn a_max_clients_past_the_machine_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = Proc::new(env!("CARGO_BIN_EXE_chinwag-server"))
        .args(["0", "--max-clients", "100000000", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("Invalid --max-clients 100000000: this machine can hold at most "),
        "{err}"
    );
}

/// One thread per client, not two: 30 logged-in clients add about 30 threads.
#[test]
fn one_thread_per_client() {
    let (_dir, s) = server(&["--signup"]);
    // Counted once a first client is in: by then the server's own threads (timer,
    // flusher, ...) have all started, which they do just after it says it listens.
    let first = Link::login(s.addr, "user30", "pw").expect("welcomed").0;
    let before = status(s.pid(), "Threads:") - 1;
    let clients: Vec<Link> = (0..30)
        .map(|i| {
            Link::login(s.addr, &format!("user{i}"), "pw")
                .expect("welcomed")
                .0
        })
        .collect();
    let after = status(s.pid(), "Threads:");
    assert!(
        after - before <= 32,
        "{before} threads, then {after} with 30 clients"
    );
    drop((first, clients));
}

/// A raw socket that logs in and then never reads, while 60 KB broadcasts keep coming:
/// the server holds a few MiB for it at most, disconnects it, and the reader that does
/// read gets every broadcast.
#[test]
fn a_client_that_never_reads_costs_a_few_mib_then_is_cut_off() {
    const MESSAGES: usize = 200;
    let (_dir, s) = server(&[]);
    let mut stalled = login(&s, "leia");
    let mut reader = login(&s, "luke");
    let mut sender = login(&s, "yoda");
    let baseline_kib = status(s.pid(), "VmRSS:");
    let text = "x".repeat(60_000);
    let got =
        std::thread::spawn(move || {
            let mut got = 0;
            while got < MESSAGES {
                match reader.read() {
                    Some(ServerMsg::Event(
                        Event::Text { text, .. } | Event::Broadcast { text },
                    )) if text.len() > 60_000 => got += 1,
                    Some(_) => {}
                    None => break,
                }
            }
            got
        });
    let mut peak_kib = baseline_kib;
    for _ in 0..MESSAGES {
        sender
            .call(Command::Broadcast { text: text.clone() })
            .expect("the sender is answered");
        peak_kib = peak_kib.max(status(s.pid(), "VmRSS:"));
    }
    assert_eq!(
        got.join().unwrap(),
        MESSAGES,
        "the reader got every broadcast"
    );
    let grew_mib = (peak_kib - baseline_kib) / 1024;
    assert!(grew_mib <= 24, "the server grew by {grew_mib} MiB");
    // What the kernel buffered for the stalled client, then the end of the connection.
    let sock: &mut TcpStream = stalled.socket();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let mut sink = Vec::new();
    let read = sock.read_to_end(&mut sink);
    let timed_out = matches!(&read, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
    assert!(!timed_out, "the stalled client was never cut off");
    assert!(
        sink.len() < MESSAGES * 60_000 / 2,
        "it got {} bytes",
        sink.len()
    );
}
