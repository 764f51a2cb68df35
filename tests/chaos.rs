//! Chaos (BEHAVIOUR section 6): many clients doing random valid and invalid commands, some
//! sending garbage, over-long lines, binary bytes and invalid JSON, some vanishing mid-line
//! or mid-upload, and one that stops reading while a pump floods it (its outbox fills and
//! it is disconnected). Meanwhile a well-behaved pair measures broadcast latency.
//! Afterwards the server still serves, its threads are back to the baseline, and
//! userlog.txt and presence agree.
//!
//! This file holds one test, so the process's thread count is the server's.
//! `CHINWAG_LONG_TESTS=1` runs more rounds.

mod common;

use chinwag::protocol::{self, Command, Farewell, Request, ServerMsg, Then};
use common::{eventually, Client, Link, TestServer, CREDENTIALS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Threads of this process, from /proc/self/status.
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Logs in, retrying while the previous connection of this user is being cleaned up.
fn login(addr: SocketAddr, user: &str, pw: &str) -> Link {
    let deadline = Instant::now() + common::WAIT;
    loop {
        if let Some((c, _)) = Link::login(addr, user, pw) {
            return c;
        }
        assert!(Instant::now() < deadline, "{user} cannot log in again");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Default)]
struct Tally {
    commands: AtomicUsize,
    garbage: AtomicUsize,
    dropped: AtomicUsize,
    dropped_mid_line: AtomicUsize,
    dropped_mid_upload: AtomicUsize,
    cut_off: AtomicUsize,
}

fn users(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("w{i}")).collect()
}

/// A random command, valid or not.
fn random_command(rng: &mut StdRng, me: &str, all: &[String]) -> Command {
    let who = all[rng.random_range(0..all.len())].clone();
    let title = format!("t{}", rng.random_range(0..5));
    let text = format!("{me} says {}", rng.random::<u32>());
    match rng.random_range(0..22) {
        0 => Command::Bcm { text },
        1 => Command::Broadcast { text },
        2 => Command::Message { to: who, text },
        3 => Command::Message {
            to: "nobody-here".into(),
            text,
        },
        4 => Command::WhoElse,
        5 => Command::WhoElseSince {
            secs: rng.random_range(0..100),
        },
        6 => Command::Atu,
        7 => Command::Block { user: who },
        8 => Command::Unblock { user: who },
        9 => Command::Srb {
            users: vec![who, all[rng.random_range(0..all.len())].clone()],
        },
        10 => Command::Srm {
            room: rng.random_range(0..6),
            text,
        },
        11 => Command::Rdm {
            kind: ["b", "s", "x"][rng.random_range(0..3)].into(),
            since: ["1 Jan 2020 00:00:00", "garbage"][rng.random_range(0..2)].into(),
        },
        12 => Command::Crt { title },
        13 => Command::Msg { title, text },
        14 => Command::Dlt {
            title,
            n: rng.random_range(0..4),
        },
        15 => Command::Edt {
            title,
            n: rng.random_range(0..4),
            text,
        },
        16 => Command::Lst,
        17 => Command::Rdt { title },
        18 => Command::Rmv { title },
        19 => Command::Sht {
            password: "guess".into(),
        },
        20 => Command::Hello {
            udp_port: 1,
            p2p_port: 2,
        },
        _ => Command::Dwn {
            title,
            file: "nothing.bin".into(),
        },
    }
}

/// A random line of garbage. Returns true if it ends the connection (over-long).
fn send_garbage(c: &mut Link, rng: &mut StdRng) -> Option<bool> {
    let (bytes, ends): (Vec<u8>, bool) = match rng.random_range(0..6) {
        0 => (b"{not json at all\n".to_vec(), false),
        1 => (b"{\"id\":1,\"cmd\":\"launch_missiles\"}\n".to_vec(), false),
        2 => {
            let mut b: Vec<u8> = (0..rng.random_range(1..3000))
                .map(|_| rng.random::<u8>())
                .filter(|&b| b != b'\n')
                .collect();
            b.push(b'\n');
            (b, false)
        }
        3 => (vec![b'x'; protocol::MAX_LINE + 100], true),
        4 => (b"{\"bin\":5}\nhello\n".to_vec(), false),
        _ => (b"\xff\xfe\x00\x01\n".to_vec(), false),
    };
    c.raw(&bytes)?;
    Some(ends)
}

/// One chaotic user: sessions of random commands and garbage, each ended a random way.
fn chaos_worker(
    addr: SocketAddr,
    me: String,
    all: Vec<String>,
    seed: u64,
    sessions: usize,
    tally: Arc<Tally>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    for s in 0..sessions {
        let mut c = login(addr, &me, "pw");
        let mut alive = true;
        for _ in 0..rng.random_range(5..40) {
            if rng.random_bool(0.15) {
                tally.garbage.fetch_add(1, Ordering::Relaxed);
                match send_garbage(&mut c, &mut rng) {
                    Some(true) | None => {
                        tally.cut_off.fetch_add(1, Ordering::Relaxed);
                        alive = false;
                        break;
                    }
                    Some(false) => {}
                }
            } else {
                tally.commands.fetch_add(1, Ordering::Relaxed);
                if c.call(random_command(&mut rng, &me, &all)).is_none() {
                    // Cut off (too many malformed lines, or a stray SHT... never right).
                    tally.cut_off.fetch_add(1, Ordering::Relaxed);
                    alive = false;
                    break;
                }
            }
        }
        if !alive {
            continue;
        }
        match rng.random_range(0..4) {
            0 => {
                c.call(Command::Logout {
                    how: Farewell::Logout,
                });
            }
            1 => {
                tally.dropped.fetch_add(1, Ordering::Relaxed);
                drop(c);
            }
            2 => {
                tally.dropped_mid_line.fetch_add(1, Ordering::Relaxed);
                let _ = c.raw(b"{\"id\":99,\"cmd\":\"bcm\",\"te");
                drop(c);
            }
            _ => {
                tally.dropped_mid_upload.fetch_add(1, Ordering::Relaxed);
                let title = format!("up-{me}-{s}");
                c.call(Command::Crt {
                    title: title.clone(),
                });
                let id = c.send(Command::Upd {
                    title,
                    file: format!("killed-{me}-{s}.bin"),
                    size: 1 << 20,
                });
                if let Some(id) = id {
                    if let Some(ServerMsg::Response(r)) = c.read() {
                        if r.re == id && r.then == Then::SendData {
                            let chunk = vec![7u8; 40_000];
                            let _ = c.frame(&chunk);
                        }
                    }
                }
                drop(c);
            }
        }
    }
}

/// Connects a client that will never read, with a small receive buffer.
fn stalled_login(addr: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(common::WAIT)).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s.try_clone().unwrap();
    let mut buf = Vec::new();
    for (id, cmd) in [
        Command::Hello {
            udp_port: 0,
            p2p_port: 0,
        },
        Command::Username {
            name: "slow".into(),
        },
        Command::Password {
            password: "pw".into(),
        },
    ]
    .into_iter()
    .enumerate()
    {
        w.write_all(&protocol::encode(&Request { id: id as u64, cmd }))
            .unwrap();
        loop {
            match protocol::read_msg::<_, ServerMsg>(&mut r, &mut buf).unwrap() {
                ServerMsg::Response(resp) if resp.re == id as u64 => break,
                _ => {}
            }
        }
    }
    s
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

#[test]
fn chaos_leaves_the_server_serving_with_its_threads_and_presence_intact() {
    let long = std::env::var("CHINWAG_LONG_TESTS").is_ok_and(|v| v == "1");
    let (workers, sessions) = if long { (32, 40) } else { (12, 8) };
    let seed: u64 = std::env::var("CHINWAG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("chaos: seed {seed}, {workers} chaotic clients x {sessions} sessions");

    let dir = tempfile::tempdir().unwrap();
    let mut creds = CREDENTIALS.to_string();
    let all = users(workers);
    for u in all
        .iter()
        .chain(["slow".to_string(), "pump".to_string()].iter())
    {
        creds.push_str(&format!("{u} pw\n"));
    }
    std::fs::write(dir.path().join("credentials.txt"), creds).unwrap();
    // No command rate limit here: the pump must outrun the stalled client (the limit
    // itself is tested in hostile.rs).
    let s = TestServer::in_dir(dir, |c| c.rate_limit = 0);
    let addr = s.addr;
    std::thread::sleep(Duration::from_millis(100));
    let baseline = threads();
    println!("chaos: baseline {baseline} threads with the server idle");

    let mut alice = Client::login(addr, "leia", "hairbuns*united");
    let mut bob = Client::login(addr, "luke", "lightsaber@#");

    // The stalled client: logged in, then never reads again.
    let slow = stalled_login(addr);
    let tally = Arc::new(Tally::default());

    // The chaotic crowd.
    let mut rng = StdRng::seed_from_u64(seed);
    let crowd: Vec<_> = all
        .iter()
        .map(|me| {
            let (me, all, seed, tally) = (me.clone(), all.clone(), rng.random(), tally.clone());
            std::thread::spawn(move || chaos_worker(addr, me, all, seed, sessions, tally))
        })
        .collect();

    // The pump: direct messages to the stalled client until the server cuts it off.
    let slow_gone = Arc::new(AtomicBool::new(false));
    let pumped = Arc::new(AtomicUsize::new(0));
    let pump = {
        let (slow_gone, pumped) = (slow_gone.clone(), pumped.clone());
        std::thread::spawn(move || {
            let mut p = login(addr, "pump", "pw");
            let text = "z".repeat(1000);
            while !slow_gone.load(Ordering::Relaxed) && pumped.load(Ordering::Relaxed) < 200_000 {
                let ids: Vec<u64> = (0..200)
                    .filter_map(|_| {
                        p.send(Command::Message {
                            to: "slow".into(),
                            text: text.clone(),
                        })
                    })
                    .collect();
                let mut offline = false;
                for id in ids {
                    while let Some(m) = p.read() {
                        if let ServerMsg::Response(r) = m {
                            if r.re == id {
                                offline |= r.lines.iter().any(|l| l.contains("offline"));
                                break;
                            }
                        }
                    }
                }
                pumped.fetch_add(200, Ordering::Relaxed);
                if offline {
                    slow_gone.store(true, Ordering::Relaxed);
                }
            }
            p.call(Command::Logout {
                how: Farewell::Logout,
            });
        })
    };

    // Meanwhile: alice broadcasts, bob measures how long each takes to reach him.
    let mut samples = Vec::new();
    let mut during_stall = 0;
    for i in 0..60 {
        let stalled = !slow_gone.load(Ordering::Relaxed);
        let body = format!("latency probe {i}");
        let sent = Instant::now();
        alice.send(Command::Broadcast { text: body.clone() });
        let want = format!("leia: {body}");
        loop {
            if bob.text() == want {
                break;
            }
        }
        samples.push(sent.elapsed());
        during_stall += usize::from(stalled);
        std::thread::sleep(Duration::from_millis(20));
    }
    pump.join().unwrap();
    for w in crowd {
        w.join().unwrap();
    }
    eventually("the stalled client to be cut off", || {
        !alice.lines(Command::WhoElse).contains(&"slow".to_string())
    });
    drop(slow);
    samples.sort();
    let (p50, p99, max) = (
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        *samples.last().unwrap(),
    );
    println!(
        "chaos: broadcast latency to a well-behaved client ({} probes, {during_stall} while the stalled client was connected): p50 {p50:?}, p99 {p99:?}, max {max:?}",
        samples.len()
    );
    println!(
        "chaos: the stalled client was cut off after {} messages pumped at it",
        pumped.load(Ordering::Relaxed)
    );
    assert!(during_stall > 0, "the probes ran after the stall ended");
    assert!(
        max < Duration::from_secs(2),
        "a stalled client delayed others: {max:?}"
    );

    // The server still serves; presence and userlog.txt agree; threads come back.
    bob.events.clear();
    eventually("only the well-behaved pair to be left online", || {
        alice.lines(Command::WhoElse) == ["luke"]
    });
    eventually("userlog.txt to list exactly leia and luke", || {
        let log = std::fs::read_to_string(s.path("userlog.txt")).unwrap();
        let mut names: Vec<&str> = log.lines().map(|l| l.split("; ").nth(2).unwrap()).collect();
        names.sort();
        names == ["leia", "luke"]
    });
    for (i, line) in std::fs::read_to_string(s.path("userlog.txt"))
        .unwrap()
        .lines()
        .enumerate()
    {
        assert!(line.starts_with(&format!("{}; ", i + 1)), "{line}");
    }
    let fresh = Client::login(addr, "yoda", "wise");
    assert!(
        alice
            .call(Command::Bcm {
                text: "still here".into()
            })
            .ok
    );
    drop(fresh);
    // Nothing of the killed uploads is left under its final name.
    let uploads = s.path("uploads");
    if let Ok(dirs) = std::fs::read_dir(&uploads) {
        for d in dirs {
            for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
                let name = f.unwrap().file_name().into_string().unwrap();
                assert!(
                    !name.starts_with("killed-"),
                    "partial upload kept as {name}"
                );
            }
        }
    }
    // One thread per client (the outbox has no writer thread per connection).
    eventually("threads back to baseline plus the pair's 2", || {
        s.connections() == 2 && threads() == baseline + 2
    });
    drop(alice);
    drop(bob);
    eventually("threads back to the baseline", || {
        s.connections() == 0 && threads() == baseline
    });
    eventually("userlog.txt to be empty", || {
        std::fs::read_to_string(s.path("userlog.txt"))
            .unwrap()
            .is_empty()
    });
    let t = &tally;
    println!(
        "chaos: {} commands, {} garbage inputs ({} cut the connection off), {} sockets dropped, {} dropped mid-line, {} dropped mid-upload; threads back to {baseline}",
        t.commands.load(Ordering::Relaxed),
        t.garbage.load(Ordering::Relaxed),
        t.cut_off.load(Ordering::Relaxed),
        t.dropped.load(Ordering::Relaxed),
        t.dropped_mid_line.load(Ordering::Relaxed),
        t.dropped_mid_upload.load(Ordering::Relaxed),
    );
}
