use super::*;
use socket2::SockRef;
use std::io::{self, BufRead, BufReader, Read};
use std::net::TcpListener;
use std::thread;

/// A connection whose far end (returned) is a plain socket. Both socket buffers are
/// small, so a client that does not read soon leaves writes parked for the flusher.
fn pair() -> (Conn, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    client.set_recv_buffer_size(4096).unwrap();
    client.connect(&addr.into()).unwrap();
    let client = TcpStream::from(client);
    let (server, _) = listener.accept().unwrap();
    SockRef::from(&server).set_send_buffer_size(4096).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    (Conn::new(Arc::new(server)), client)
}

fn line(producer: usize, n: usize) -> Arc<[u8]> {
    format!("{producer} {n} {}\n", "x".repeat(600))
        .into_bytes()
        .into()
}

/// `line(producer, n)` as a presence notice about nobody in particular.
fn notice(producer: usize, n: usize) -> Notice {
    Notice::new(line(producer, n), None, Box::default())
}

/// Reads `(producer, n)` lines until the end of the stream, checking each producer's
/// order; returns how many lines each producer got.
fn read_in_order(client: &TcpStream, producers: usize, pause_every: usize) -> Vec<usize> {
    let mut next = vec![0; producers];
    for (i, l) in BufReader::new(client).lines().enumerate() {
        let l = l.expect("every line before the end of the stream");
        let mut words = l.split(' ');
        let p: usize = words.next().unwrap().parse().unwrap();
        let n: usize = words.next().unwrap().parse().unwrap();
        assert_eq!(n, next[p], "producer {p} out of order");
        next[p] += 1;
        if pause_every > 0 && i % pause_every == 0 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    next
}

/// Four threads queue 1,500 lines each while the client reads slowly, mixing
/// write-through scopes of several sizes with plain sends (written by the flusher) and
/// presence notices, so that lines go out directly, parked and through the flusher in
/// turn. The client gets every line, each thread's in order, then the end of the stream
/// after the close.
#[test]
fn lines_arrive_in_order_whoever_writes_them() {
    const PER: usize = 1500;
    let (conn, client) = pair();
    let feed = Arc::new(Feed::default());
    feed.subscribe(&conn, 1, "hans");
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let (conn, feed) = (conn.clone(), feed.clone());
            thread::spawn(move || {
                let mut n = 0;
                while n < PER {
                    let scope = (p % 2 == 0 || n % 300 < 150).then(WriteThrough::begin);
                    for _ in 0..(1 + n % 7).min(PER - n) {
                        match p == 3 {
                            true => feed.publish(notice(p, n), Instant::now()),
                            false => assert!(conn.send(Out::Line(line(p, n)))),
                        }
                        n += 1;
                    }
                    drop(scope);
                    if n % 100 < 7 {
                        thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        })
        .collect();
    let closer = thread::spawn(move || {
        for p in producers {
            p.join().unwrap();
        }
        assert!(conn.send(Out::Close));
    });
    assert_eq!(read_in_order(&client, 4, 40), [PER; 4]);
    closer.join().unwrap();
}

/// Lost wake-ups: lines queued one at a time from other threads, outside any scope, at
/// the moments the flusher is busiest going to sleep, each arrive within seconds.
#[test]
fn no_line_waits_for_another_to_be_written() {
    let (conn, client) = pair();
    let feed = Arc::new(Feed::default());
    feed.subscribe(&conn, 1, "hans");
    let mut reader = BufReader::new(&client);
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for n in 0..400 {
        let (c, feed) = (conn.clone(), feed.clone());
        let is_notice = n % 40 == 0; // a notice may linger up to NOTICE_LINGER
        thread::spawn(move || match is_notice {
            true => feed.publish(notice(0, n), Instant::now()),
            false => assert!(c.send(Out::Line(line(0, n)))),
        });
        let mut got = String::new();
        reader.read_line(&mut got).expect("the line, not a stall");
        assert!(got.starts_with(&format!("0 {n} ")), "{got:.20}");
    }
}

/// A write-through never writes while a session holds the connection: the line waits
/// for the guard, then arrives.
#[test]
fn a_hold_keeps_write_through_back() {
    let (conn, client) = pair();
    let held = conn.hold();
    {
        let _scope = WriteThrough::begin();
        conn.send(Out::Line(line(0, 0)));
    }
    client.set_nonblocking(true).unwrap();
    thread::sleep(Duration::from_millis(100));
    let mut byte = [0u8; 1];
    let early = (&client).read(&mut byte);
    assert!(
        matches!(&early, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
        "read {early:?} while held"
    );
    drop(held);
    client.set_nonblocking(false).unwrap();
    let mut first = String::new();
    BufReader::new(&client).read_line(&mut first).unwrap();
    assert!(first.starts_with("0 0 "));
}

/// A client that never reads costs at most [`MAX_QUEUED`] bytes: the send that would
/// pass it disconnects the client and drops its queue.
#[test]
fn a_stalled_reader_is_bounded_in_bytes_then_disconnected() {
    let (conn, client) = pair();
    let big: Arc<[u8]> = vec![b'x'; 60_000].into();
    let mut sent = 0;
    while conn.send(Out::Line(big.clone())) {
        assert!(conn.queued() <= MAX_QUEUED);
        sent += 1;
        assert!(sent < 200, "never disconnected");
    }
    assert!(
        sent >= MAX_QUEUED / 61_000,
        "disconnected early, after {sent}"
    );
    assert_eq!(conn.queued(), 0, "the queue is dropped");
    assert!(!conn.send(Out::Line(line(0, 0))));
    drop(client);
}

/// During a download, a line another thread queues waits behind all its frames.
#[test]
fn lines_wait_behind_a_stream() {
    let (conn, client) = pair();
    let reader = thread::spawn(move || {
        let lines: Vec<String> = BufReader::new(&client)
            .lines()
            .map(Result::unwrap)
            .collect();
        lines
            .iter()
            .map(|l| l[..l.find(" x").unwrap()].to_string())
            .collect::<Vec<_>>()
    });
    let stream = conn.stream();
    let mut late = None;
    for n in 0..100 {
        assert!(stream.frame(line(0, n).to_vec()));
        if n == 10 {
            let other = conn.clone();
            late = Some(thread::spawn(move || other.send(Out::Line(line(1, 0)))));
        }
    }
    assert!(late.unwrap().join().unwrap());
    drop(stream);
    assert!(conn.send(Out::Close));
    let got = reader.join().unwrap();
    let mut want: Vec<String> = (0..100).map(|n| format!("0 {n}")).collect();
    want.push("1 0".into());
    assert_eq!(got, want);
}

/// Lost wake-ups in `drained`: a sender queues a burst the small socket cannot take at
/// once (so the flusher finishes it) and waits for the queue to drain, again and again,
/// while the client reads. `drained` has no periodic re-check: a missed signal would
/// leave it waiting for its whole 30 s limit, so each wait must end within seconds.
#[test]
fn drained_wakes_as_soon_as_the_last_byte_is_written() {
    let (conn, client) = pair();
    let reader = thread::spawn(move || read_in_order(&client, 1, 0));
    let mut n = 0;
    for round in 0..200 {
        for _ in 0..(1 + round % 9) {
            assert!(conn.send(Out::Line(line(0, n))));
            n += 1;
        }
        let started = Instant::now();
        assert!(conn.drained(Duration::from_secs(30)), "round {round}");
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "round {round} waited {took:?}"
        );
    }
    assert!(conn.send(Out::Close));
    assert_eq!(reader.join().unwrap(), [n]);
}
