//! Crash safety (BEHAVIOUR section 4): the real `chinwag-server` binary runs mixed traffic
//! (BCM, SRB/SRM, sign-ups, blocks, offline messages, forum CRT/MSG) and is SIGKILLed at
//! seeded random moments, then restarted on the same data directory. Every item whose
//! response the client received (acknowledged) must be there after the restart; numbering
//! continues with no gaps; no file holds a torn line.
//!
//! CI runs 5 kills; `CHINWAG_LONG_TESTS=1` runs 40. `CHINWAG_SEED=N` replays one run.

mod common;

use chinwag::protocol::Command;
use chinwag::server::store::history::LogEntry;
use common::{Link, ServerProc, CREDENTIALS};
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Users that drive traffic (each logged in by its own worker).
const WORKERS: [(&str, &str); 5] = [
    ("hans", "indiana#jones"),
    ("yoda", "wise"),
    ("luke", "lightsaber@#"),
    ("vader", "sithlord$9"),
    ("leia", "hairbuns*united"),
];
/// Users who never log in during traffic: their offline messages wait for them.
const OFFLINE: [(&str, &str); 2] = [("off1", "pw1"), ("off2", "pw2")];
/// Reads history; never blocks anyone.
const CHECKER: (&str, &str) = ("obiwan", "(jedimaster)");
const SINCE: &str = "1 Jan 2000 00:00:00";

/// Everything acknowledged so far.
#[derive(Default)]
struct Acked {
    /// number -> (user, text)
    broadcasts: BTreeMap<u64, (String, String)>,
    /// room -> members
    rooms: BTreeMap<u64, BTreeSet<String>>,
    /// room -> number -> (user, text)
    room_msgs: BTreeMap<u64, BTreeMap<u64, (String, String)>>,
    signups: Vec<(String, String)>,
    /// How many of `signups` have logged in after a restart already.
    signups_logged_in: usize,
    /// (blocker, blocked)
    blocks: BTreeSet<(String, String)>,
    /// recipient -> lines waiting, in order
    offline: BTreeMap<String, Vec<String>>,
    /// thread -> creator
    threads: BTreeMap<String, String>,
    /// thread -> posts as `user: text`
    posts: BTreeMap<String, Vec<String>>,
}

/// Tallies for the report.
#[derive(Default, Debug)]
struct Checked {
    broadcasts: usize,
    room_msgs: usize,
    signups: usize,
    blocks: usize,
    offline: usize,
    threads: usize,
    posts: usize,
    lines_parsed: usize,
}

/// The number in `Broadcast message, #12 broadcast at ...` and the like.
fn number_after_hash(line: &str) -> Option<u64> {
    let rest = line.split_once('#')?.1;
    rest.split(' ').next()?.parse().ok()
}

/// One worker's traffic until `stop` (or the server dies).
fn worker(
    addr: SocketAddr,
    me: usize,
    round: usize,
    seed: u64,
    acked: &Mutex<Acked>,
    stop: &AtomicBool,
) {
    let (user, pw) = WORKERS[me];
    let mut rng = StdRng::seed_from_u64(seed);
    let Some((mut l, _)) = Link::login(addr, user, pw) else {
        return;
    };
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let text = format!("r{round} {user} m{i}");
        let ok = match rng.random_range(0..100) {
            0..=29 => bcm(&mut l, user, &text, acked),
            30..=39 => srb(&mut l, user, &mut rng, acked),
            40..=59 => srm(&mut l, user, &text, &mut rng, acked),
            60..=64 => block(&mut l, user, &mut rng, acked),
            65..=79 => offline(&mut l, user, &text, &mut rng, acked),
            80..=84 => crt(&mut l, user, round, &mut rng, acked),
            _ => msg(&mut l, user, &text, &mut rng, acked),
        };
        if !ok {
            return;
        }
    }
}

fn bcm(l: &mut Link, user: &str, text: &str, acked: &Mutex<Acked>) -> bool {
    let Some(line) = l.line(Command::Bcm { text: text.into() }) else {
        return false;
    };
    if line.starts_with("Broadcast message, #") {
        let n = number_after_hash(&line).expect("BCM number");
        let prev = acked
            .lock()
            .broadcasts
            .insert(n, (user.into(), text.into()));
        assert!(prev.is_none(), "broadcast #{n} acknowledged twice");
    }
    true
}

fn srb(l: &mut Link, user: &str, rng: &mut StdRng, acked: &Mutex<Acked>) -> bool {
    let others: Vec<String> = WORKERS
        .iter()
        .map(|w| w.0.to_string())
        .filter(|u| u != user && rng.random_bool(0.5))
        .collect();
    if others.is_empty() {
        return true;
    }
    let Some(line) = l.line(Command::Srb {
        users: others.clone(),
    }) else {
        return false;
    };
    if let Some(rest) = line.strip_prefix("Separate chat room has been created, room ID: ") {
        let id: u64 = rest.split(',').next().unwrap().parse().unwrap();
        let mut members: BTreeSet<String> = others.into_iter().collect();
        members.insert(user.into());
        acked.lock().rooms.insert(id, members);
    }
    true
}

fn srm(l: &mut Link, user: &str, text: &str, rng: &mut StdRng, acked: &Mutex<Acked>) -> bool {
    let mine: Vec<u64> = {
        let a = acked.lock();
        a.rooms
            .iter()
            .filter(|(_, m)| m.contains(user))
            .map(|(id, _)| *id)
            .collect()
    };
    if mine.is_empty() {
        return true;
    }
    let room = mine[rng.random_range(0..mine.len())];
    let Some(line) = l.line(Command::Srm {
        room,
        text: text.into(),
    }) else {
        return false;
    };
    if line.starts_with("Separate room message, #") {
        let n = number_after_hash(&line).unwrap();
        let prev = acked
            .lock()
            .room_msgs
            .entry(room)
            .or_default()
            .insert(n, (user.into(), text.into()));
        assert!(prev.is_none(), "room {room} #{n} acknowledged twice");
    }
    true
}

fn block(l: &mut Link, user: &str, rng: &mut StdRng, acked: &Mutex<Acked>) -> bool {
    let who = WORKERS[rng.random_range(0..WORKERS.len())].0;
    if who == user {
        return true;
    }
    let Some(line) = l.line(Command::Block { user: who.into() }) else {
        return false;
    };
    if line == format!("{who} is blocked") {
        acked.lock().blocks.insert((user.into(), who.into()));
    }
    true
}

fn offline(l: &mut Link, user: &str, text: &str, rng: &mut StdRng, acked: &Mutex<Acked>) -> bool {
    let to = OFFLINE[rng.random_range(0..OFFLINE.len())].0;
    // Hold the lock across the call so the recorded order is the server's order.
    let mut a = acked.lock();
    let Some(line) = l.line(Command::Message {
        to: to.into(),
        text: text.into(),
    }) else {
        return false;
    };
    if line == format!("Message to {to} stored for offline delivery") {
        a.offline
            .entry(to.into())
            .or_default()
            .push(format!("{user}: {text}"));
    }
    true
}

fn crt(l: &mut Link, user: &str, round: usize, rng: &mut StdRng, acked: &Mutex<Acked>) -> bool {
    let title = format!("t{round}-{}", rng.random_range(0..4));
    let Some(line) = l.line(Command::Crt {
        title: title.clone(),
    }) else {
        return false;
    };
    if line == format!("Thread {title} created") {
        acked.lock().threads.insert(title, user.into());
    }
    true
}

fn msg(l: &mut Link, user: &str, text: &str, rng: &mut StdRng, acked: &Mutex<Acked>) -> bool {
    let titles: Vec<String> = acked.lock().threads.keys().cloned().collect();
    if titles.is_empty() {
        return true;
    }
    let title = titles[rng.random_range(0..titles.len())].clone();
    let Some(line) = l.line(Command::Msg {
        title: title.clone(),
        text: text.into(),
    }) else {
        return false;
    };
    if line == format!("Message posted to {title} thread") {
        acked
            .lock()
            .posts
            .entry(title)
            .or_default()
            .push(format!("{user}: {text}"));
    }
    true
}

/// A sign-up loop: new accounts, each acknowledged by its welcome.
fn signer(addr: SocketAddr, round: usize, acked: &Mutex<Acked>, stop: &AtomicBool) {
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let (user, pw) = (format!("su{round}x{i}"), format!("pw{round}#{i}"));
        let Some((mut l, _)) = Link::login(addr, &user, &pw) else {
            return;
        };
        acked.lock().signups.push((user, pw));
        if l.call(Command::Logout {
            how: chinwag::protocol::Farewell::Xit,
        })
        .is_none()
        {
            return;
        }
    }
}

/// Every line of every file the server keeps is whole (ends in a newline) and parses.
fn check_files(dir: &Path, checked: &mut Checked) {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let whole = |name: &str, text: &str| {
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "{name}: torn last line {:?}",
            text.lines().last()
        );
    };
    let mut logs = vec!["messagelog.txt".to_string()];
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name.starts_with("SR_") && name.ends_with("_messagelog.txt") {
            logs.push(name);
        }
    }
    for name in &logs {
        let text = read(name);
        whole(name, &text);
        for (i, line) in text.lines().enumerate() {
            let e =
                LogEntry::from_line(line).unwrap_or_else(|| panic!("{name}: bad line {line:?}"));
            assert_eq!(e.number, i as u64 + 1, "{name}: gap at {line:?}");
            checked.lines_parsed += 1;
        }
    }
    let journal = read("journal.jsonl");
    whole("journal.jsonl", &journal);
    for line in journal.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("journal.jsonl: {e}: {line:?}"));
        checked.lines_parsed += 1;
    }
    for name in ["credentials.txt", "rooms.txt"] {
        let text = read(name);
        whole(name, &text);
        checked.lines_parsed += text.lines().count();
    }
    chinwag::server::store::accounts::load(&dir.join("credentials.txt"))
        .expect("credentials parse");
    if let Ok(entries) = std::fs::read_dir(dir.join("threads")) {
        for e in entries {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            if name.starts_with('.') {
                continue; // a temporary file of an interrupted rewrite
            }
            let text = std::fs::read_to_string(e.path()).unwrap();
            whole(&name, &text);
            let mut n = 0;
            for line in text.lines().skip(1) {
                if let Some((num, _)) = line
                    .split_once(' ')
                    .filter(|(a, _)| a.parse::<u64>().is_ok())
                {
                    n += 1;
                    assert_eq!(num, n.to_string(), "thread {name}: gap at {line:?}");
                } else {
                    assert!(
                        line.contains(" uploaded "),
                        "thread {name}: bad line {line:?}"
                    );
                }
                checked.lines_parsed += 1;
            }
        }
    }
}

/// Everything acknowledged is there, through the protocol, on the restarted server.
fn verify(addr: SocketAddr, dir: &Path, acked: &mut Acked, checked: &mut Checked) {
    let (mut checker, _) = Link::login(addr, CHECKER.0, CHECKER.1).expect("checker logs in");
    // Broadcasts: in the log file with their numbers, and listed by RDM b.
    let rdm = checker
        .call_long(Command::Rdm {
            kind: "b".into(),
            since: SINCE.into(),
        })
        .unwrap()
        .lines;
    let file = std::fs::read_to_string(dir.join("messagelog.txt")).unwrap();
    let rows: Vec<LogEntry> = file.lines().filter_map(LogEntry::from_line).collect();
    for (n, (user, text)) in &acked.broadcasts {
        let row = rows
            .get(*n as usize - 1)
            .unwrap_or_else(|| panic!("broadcast #{n} lost"));
        assert_eq!((row.number, &row.user, &row.text), (*n, user, text));
        let want = format!("#{n}; {user}: {text} at ");
        assert!(
            rdm.iter().any(|l| l.starts_with(&want)),
            "RDM b lacks {want:?}: {} lines, first {:?}, last {:?}",
            rdm.len(),
            rdm.first(),
            rdm.last()
        );
        checked.broadcasts += 1;
    }
    // Numbering continues after the last line on disk.
    let next = rows.len() as u64 + 1;
    let line = checker
        .line(Command::Bcm {
            text: "after restart".into(),
        })
        .unwrap();
    assert!(
        line.starts_with(&format!("Broadcast message, #{next} broadcast at ")),
        "{line}"
    );
    acked
        .broadcasts
        .insert(next, (CHECKER.0.into(), "after restart".into()));

    // Room messages: in their room's log with their numbers.
    for (room, msgs) in &acked.room_msgs {
        let path = dir.join(format!("SR_{room}_messagelog.txt"));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let rows: Vec<LogEntry> = text.lines().filter_map(LogEntry::from_line).collect();
        for (n, (user, text)) in msgs {
            let row = rows
                .get(*n as usize - 1)
                .unwrap_or_else(|| panic!("room {room} #{n} lost"));
            assert_eq!((row.number, &row.user, &row.text), (*n, user, text));
            checked.room_msgs += 1;
        }
    }
    // Threads and posts: RDT shows every acknowledged post, numbered without gaps.
    for (title, creator) in &acked.threads {
        let mut lines = checker
            .call_long(Command::Rdt {
                title: title.clone(),
            })
            .unwrap()
            .lines;
        if lines == [format!("Thread {title} is empty")] {
            lines.clear();
        }
        assert!(
            !lines.iter().any(|l| l.contains("does not exist")),
            "thread {title} (by {creator}) lost"
        );
        for (i, l) in lines.iter().enumerate() {
            assert!(
                l.starts_with(&format!("{} ", i + 1)),
                "thread {title}: {lines:?}"
            );
        }
        for post in acked.posts.get(title).into_iter().flatten() {
            assert!(
                lines
                    .iter()
                    .any(|l| l.ends_with(post.as_str()) && l.contains(' ')),
                "thread {title} lost {post:?}: {lines:?}"
            );
            checked.posts += 1;
        }
        checked.threads += 1;
    }
    checker.call(Command::Logout {
        how: chinwag::protocol::Farewell::Logout,
    });

    // Sign-ups: each new one logs in with its password (an argon2 verification each);
    // those that did after an earlier restart are still in credentials.txt.
    let stored: BTreeSet<String> =
        chinwag::server::store::accounts::load(&dir.join("credentials.txt"))
            .expect("credentials parse")
            .into_iter()
            .map(|(user, _)| user)
            .collect();
    for (i, (user, pw)) in acked.signups.iter().enumerate() {
        if i < acked.signups_logged_in {
            assert!(stored.contains(user), "sign-up {user} lost");
        } else {
            let (mut l, _) =
                Link::login(addr, user, pw).unwrap_or_else(|| panic!("sign-up {user} lost"));
            l.call(Command::Logout {
                how: chinwag::protocol::Farewell::Logout,
            });
        }
        checked.signups += 1;
    }
    acked.signups_logged_in = acked.signups.len();
    // Offline messages: delivered at login, oldest first (then gone).
    for (to, pw) in OFFLINE {
        let (mut l, _) = Link::login(addr, to, pw).expect("offline user logs in");
        let want = acked.offline.remove(to).unwrap_or_default();
        // Text events after the welcome; the logout's goodbye ends them.
        let mut bye = l
            .call_long(Command::Logout {
                how: chinwag::protocol::Farewell::Logout,
            })
            .expect("logout");
        bye.lines.pop();
        // In order; one more may follow, sent but not acknowledged before the kill.
        let got = &bye.lines;
        let mut rest = got.iter();
        for w in &want {
            assert!(rest.any(|g| g == w), "{to} lost offline {w:?}: got {got:?}");
        }
        assert!(got.len() <= want.len() + 1, "{to}: unexpected {got:?}");
        checked.offline += want.len();
    }
    // Blocks: the blocked user's message is refused.
    let mut by_blocked: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (by, who) in &acked.blocks {
        by_blocked.entry(who).or_default().push(by);
    }
    for (who, bys) in by_blocked {
        let pw = WORKERS.iter().find(|w| w.0 == who).unwrap().1;
        let (mut l, _) = Link::login(addr, who, pw).expect("worker logs in");
        for by in bys {
            let line = l
                .line(Command::Message {
                    to: by.into(),
                    text: "hi".into(),
                })
                .unwrap();
            assert_eq!(
                line,
                chinwag::text::RECIPIENT_BLOCKED_YOU,
                "{by} blocked {who}"
            );
            checked.blocks += 1;
        }
        l.call(Command::Logout {
            how: chinwag::protocol::Farewell::Logout,
        });
    }
    // A room keeps its numbering: a member posts the next number.
    if let Some((room, members)) = acked.rooms.iter().next_back() {
        let member = members.iter().next().unwrap();
        let pw = WORKERS.iter().find(|w| w.0 == member).unwrap().1;
        let path = dir.join(format!("SR_{room}_messagelog.txt"));
        let next = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .count()
            + 1;
        let (mut l, _) = Link::login(addr, member, pw).unwrap();
        let line = l
            .line(Command::Srm {
                room: *room,
                text: "room after restart".into(),
            })
            .unwrap();
        assert!(
            line.starts_with(&format!("Separate room message, #{next} ")),
            "{line}"
        );
        acked
            .room_msgs
            .entry(*room)
            .or_default()
            .insert(next as u64, (member.clone(), "room after restart".into()));
        l.call(Command::Logout {
            how: chinwag::protocol::Farewell::Logout,
        });
    }
}

fn run(kills: usize) {
    let seed: u64 = std::env::var("CHINWAG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("crash test: seed {seed} (CHINWAG_SEED={seed} replays the choices), {kills} kills");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut creds = CREDENTIALS.to_string();
    for (u, p) in OFFLINE {
        creds.push_str(&format!("{u} {p}\n"));
    }
    std::fs::write(dir.path().join("credentials.txt"), creds).unwrap();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut checked = Checked::default();
    let started = Instant::now();
    for round in 0..=kills {
        // No command rate limit: the checker reads every thread on one connection.
        let mut server = ServerProc::start(dir.path(), &["--rate-limit", "0"]);
        verify(server.addr, dir.path(), &mut acked.lock(), &mut checked);
        if round == kills {
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for me in 0..WORKERS.len() {
            let (acked, stop, addr, s) = (acked.clone(), stop.clone(), server.addr, rng.random());
            threads.push(std::thread::spawn(move || {
                worker(addr, me, round, s, &acked, &stop)
            }));
        }
        let (acked2, stop2, addr) = (acked.clone(), stop.clone(), server.addr);
        threads.push(std::thread::spawn(move || {
            signer(addr, round, &acked2, &stop2)
        }));
        // The kill comes after a random amount of acknowledged traffic (or 900 ms).
        let target = acked.lock().broadcasts.len() + rng.random_range(20..300);
        let cap = Instant::now() + Duration::from_millis(900);
        while acked.lock().broadcasts.len() < target && Instant::now() < cap {
            std::thread::sleep(Duration::from_millis(5));
        }
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().expect("worker");
        }
        check_files(dir.path(), &mut checked);
    }
    println!(
        "crash test: {kills} SIGKILLs survived in {:?}; acknowledged items checked after restarts: {checked:?}",
        started.elapsed()
    );
    let a = acked.lock();
    println!(
        "crash test: totals acknowledged: {} broadcasts, {} rooms, {} room messages, {} sign-ups, {} blocks, {} threads, {} posts",
        a.broadcasts.len(),
        a.rooms.len(),
        a.room_msgs.values().map(|m| m.len()).sum::<usize>(),
        a.signups.len(),
        a.blocks.len(),
        a.threads.len(),
        a.posts.values().map(|p| p.len()).sum::<usize>(),
    );
    assert!(
        a.broadcasts.len() > kills,
        "too little traffic to mean anything"
    );
}

#[test]
fn acknowledged_data_survives_sigkill_and_files_stay_whole() {
    let long = std::env::var("CHINWAG_LONG_TESTS").is_ok_and(|v| v == "1");
    run(if long { 40 } else { 5 });
}
