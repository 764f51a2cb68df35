use super::*;
use crossbeam_channel::{unbounded, Receiver};
use std::io::Write;

const WAIT: Duration = Duration::from_secs(8);

fn node(me: &str) -> (PrivateChat, Receiver<String>) {
    let (tx, rx) = unbounded();
    // A hello waits 0.5 s for its token (3 s in the client), so refusals come sooner.
    let wait = Duration::from_millis(500);
    let chat = PrivateChat::start_with(Printer::plain(), Some(tx), wait).unwrap();
    chat.set_me(me);
    (chat, rx)
}

fn addr(chat: &PrivateChat) -> String {
    format!("127.0.0.1:{}", chat.port())
}

/// The lines `rx` yields up to and including `want`, or `None` after a timeout.
fn until(rx: &Receiver<String>, want: &str) -> Option<Vec<String>> {
    let (deadline, mut seen) = (Instant::now() + WAIT, Vec::new());
    while let Ok(line) = rx.recv_deadline(deadline) {
        seen.push(line);
        if seen.last().is_some_and(|l| l == want) {
            return Some(seen);
        }
    }
    None
}

fn saw(rx: &Receiver<String>, want: &str) -> bool {
    until(rx, want).is_some()
}

type Node = (PrivateChat, Receiver<String>);

/// yoda connects to hans; returns (yoda, hans).
fn linked() -> (Node, Node) {
    let (yoda, hans) = (node("yoda"), node("hans"));
    hans.0.expect("yoda", "tok");
    yoda.0.connect("hans", &addr(&hans.0), "tok");
    assert!(saw(&yoda.1, "Start private messaging with hans"));
    assert!(hans.0.has_session("yoda") && yoda.0.has_session("hans"));
    (yoda, hans)
}

/// A raw peer that says hello as `from` and reads the welcome.
fn raw_peer(to: &PrivateChat, from: &str, token: &str) -> BufReader<PeerStream> {
    let stream = PeerStream::Plain(TcpStream::connect(addr(to)).unwrap());
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let hello = Wire::Hello {
        from: from.into(),
        token: token.into(),
    };
    write_wire(&stream, &hello).unwrap();
    let mut reader = BufReader::new(stream);
    assert!(matches!(read_wire(&mut reader), Ok(Some(Wire::Welcome))));
    reader
}

#[test]
fn messages_flow_both_ways() {
    let ((yoda, ry), (hans, rh)) = linked();
    yoda.send("hans", "hello there").unwrap();
    assert!(saw(&rh, "yoda(private): hello there"));
    hans.send("yoda", "hi").unwrap();
    assert!(saw(&ry, "hans(private): hi"));
    yoda.shutdown();
    hans.shutdown();
}

#[test]
fn wrong_token_or_user_is_refused() {
    let ((yoda, ry), (hans, _rh)) = (node("yoda"), node("hans"));
    hans.expect("luke", "tok");
    yoda.connect("hans", &addr(&hans), "tok");
    yoda.connect("hans", &addr(&hans), "other");
    assert!(saw(&ry, &unavailable("hans")));
    assert!(saw(&ry, &unavailable("hans")));
    assert!(!hans.has_session("yoda"));
    let err = yoda.send("hans", "x").unwrap_err();
    assert_eq!(err, "Error. Private messaging to hans not enabled");
    assert!(hans.send("yoda", "x").unwrap_err().ends_with("not enabled"));
    yoda.shutdown();
    hans.shutdown();
}

#[test]
fn token_registered_late_still_works_once() {
    let ((yoda, ry), (hans, _rh)) = (node("yoda"), node("hans"));
    yoda.connect("hans", &addr(&hans), "late");
    thread::sleep(Duration::from_millis(80));
    hans.expect("yoda", "late");
    assert!(saw(&ry, "Start private messaging with hans"));
    let mut again = TcpStream::connect(addr(&hans)).unwrap();
    let hello = r#"{"t":"hello","from":"yoda","token":"late"}"#;
    again.write_all(format!("{hello}\n").as_bytes()).unwrap();
    again.set_read_timeout(Some(WAIT)).unwrap();
    // A signal another test's child process brings may interrupt the read: read again.
    let n = loop {
        match again.read(&mut [0; 64]) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => break r.unwrap(),
        }
    };
    assert_eq!(n, 0, "token reused");
    yoda.shutdown();
    hans.shutdown();
}

#[test]
fn stop_from_either_side() {
    let ((yoda, ry), (hans, rh)) = linked();
    yoda.stop("hans").unwrap();
    assert!(saw(&ry, "Private messaging with hans stopped"));
    assert!(saw(&rh, "yoda stopped private messaging"));
    assert!(!hans.has_session("yoda") && !yoda.has_session("hans"));
    let err = yoda.stop("hans").unwrap_err();
    assert_eq!(err, "Error. No private messaging session with hans");
    assert!(hans.send("yoda", "x").unwrap_err().ends_with("not enabled"));
    yoda.shutdown();
    hans.shutdown();

    let ((yoda, ry), (hans, rh)) = linked();
    hans.stop("yoda").unwrap();
    assert!(saw(&rh, "Private messaging with yoda stopped"));
    assert!(saw(&ry, "hans stopped private messaging"));
    assert!(!yoda.has_session("hans"));
    yoda.shutdown();
    hans.shutdown();
}

#[test]
fn shutdown_tells_the_peer() {
    let ((yoda, _ry), (hans, rh)) = linked();
    let started = Instant::now();
    yoda.shutdown();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(saw(
        &rh,
        "Private messaging with yoda ended as yoda logged out"
    ));
    assert!(!hans.has_session("yoda"));
    assert_eq!(hans.send("yoda", "x").unwrap_err(), unavailable("yoda"));
    hans.shutdown();
}

#[test]
fn vanished_peer_ends_the_session() {
    let (hans, rh) = node("hans");
    hans.expect("yoda", "tok");
    let peer = raw_peer(&hans, "yoda", "tok");
    assert!(hans.has_session("yoda"));
    drop(peer);
    assert!(saw(
        &rh,
        "Private messaging with yoda ended as yoda logged out"
    ));
    assert_eq!(hans.send("yoda", "x").unwrap_err(), unavailable("yoda"));
    hans.shutdown();
}

#[test]
fn garbage_closes_the_connection() {
    let (hans, rh) = node("hans");
    hans.expect("yoda", "tok");
    let mut peer = raw_peer(&hans, "yoda", "tok");
    peer.get_mut().write_all(b"not json\n").unwrap();
    let mut rest = Vec::new();
    assert!(peer.read_to_end(&mut rest).is_ok_and(|_| rest.is_empty()));
    assert!(saw(
        &rh,
        "Private messaging with yoda ended as yoda logged out"
    ));
    hans.shutdown();
}

#[test]
fn several_sessions_and_replacement() {
    let ((yoda, ry), (hans, rh)) = linked();
    let (luke, rl) = node("luke");
    yoda.expect("luke", "t2");
    luke.connect("yoda", &addr(&yoda), "t2");
    assert!(saw(&rl, "Start private messaging with yoda"));
    luke.send("yoda", "hey").unwrap();
    assert!(saw(&ry, "luke(private): hey"));
    hans.expect("yoda", "t3");
    yoda.connect("hans", &addr(&hans), "t3");
    assert!(saw(&ry, "Start private messaging with hans"));
    yoda.send("hans", "new").unwrap();
    hans.send("yoda", "ok").unwrap();
    let quiet = |lines: Vec<String>| !lines.iter().any(|l| l.contains("ended"));
    assert!(until(&rh, "yoda(private): new").is_some_and(quiet));
    assert!(until(&ry, "hans(private): ok").is_some_and(quiet));
    assert!(yoda.has_session("hans") && hans.has_session("yoda"));
    for chat in [yoda, hans, luke] {
        chat.shutdown();
    }
}
