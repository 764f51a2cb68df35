//! Robustness (BEHAVIOUR §6): a full disk, long messages, open-file limits, sockets that
//! never log in, slow queries, symbolic links and file modes, against the real server
//! binary. Tests that need root (a tmpfs mount) print why and pass when not permitted.

mod common;

use chinwag::protocol::{Command, Event, Then};
use common::{password, Client, ServerProc, CREDENTIALS};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::time::Duration;

/// A small tmpfs mounted for one test, unmounted on drop (declare it before the server
/// so the server is killed first).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// None (with the reason printed) where mounting is not permitted.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Proc::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                let why = String::from_utf8_lossy(&o.stderr);
                println!("skipped: cannot mount a tmpfs: {}", why.trim());
                None
            }
            Err(e) => {
                println!("skipped: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Proc::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Fills the file system holding `dir` to the last page with `dir/filler`, then frees
/// `free` bytes of it. Returns the filler's path.
fn fill(dir: &Path, free: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    for chunk in [64 * 1024, 4096, 1] {
        let block = vec![b'x'; chunk];
        while f.write_all(&block).is_ok() {}
    }
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(free)).unwrap();
    path
}

/// Every line of the file is whole (ends in a newline) and passes `ok`.
fn whole_lines(path: &Path, ok: impl Fn(&str) -> bool) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "torn: {text:?}");
    for line in text.lines() {
        assert!(ok(line), "{}: bad line {line:?}", path.display());
    }
}

/// Finding 2: an offline message whose journal append fails part-way is refused and cut
/// back, so the next one (acknowledged) survives a restart; the server also starts on a
/// disk with no room left to compact its journal.
#[test]
fn a_full_disk_never_tears_the_journal() {
    let Some(fs) = Tmpfs::mount("2m") else { return };
    let dir = fs.path();
    std::fs::write(dir.join("credentials.txt"), CREDENTIALS).unwrap();
    let mut server = ServerProc::start(dir, &[]);
    let mut hans = Client::login(server.addr, "hans", password("hans"));
    let r = hans.call(Command::Message {
        to: "yoda".into(),
        text: "before".into(),
    });
    assert!(r.ok, "{:?}", r.lines);
    let big = "y".repeat(60_000);
    let filler = fill(dir, 8192);
    let r = hans.call(Command::Message {
        to: "yoda".into(),
        text: big,
    });
    assert!(!r.ok, "{:?}", r.lines);
    assert_eq!(r.lines, [chinwag::text::SAVE_FAILED]);
    // A restart on a disk with no room at all still works.
    server.kill9();
    std::fs::remove_file(&filler).unwrap();
    let filler = fill(dir, 0);
    let mut server = ServerProc::start(dir, &[]);
    let mut hans = Client::login(server.addr, "hans", password("hans"));
    std::fs::remove_file(filler).unwrap();
    let r = hans.call(Command::Message {
        to: "yoda".into(),
        text: "after".into(),
    });
    assert!(r.ok, "{:?}", r.lines);
    whole_lines(&dir.join("journal.jsonl"), |l| {
        serde_json::from_str::<serde_json::Value>(l).is_ok()
    });
    server.kill9();
    let server = ServerProc::start(dir, &[]);
    let mut yoda = Client::connect(server.addr);
    let r = yoda.try_login("yoda", password("yoda"));
    assert_eq!(r.then, Then::LoggedIn);
    assert_eq!(yoda.text(), "hans: before");
    assert_eq!(yoda.text(), "hans: after");
    yoda.quiet_for(std::time::Duration::from_millis(100));
}

/// Finding 3: a sign-up whose credentials append fails part-way is refused, nothing of it
/// stays in credentials.txt, and the server starts again.
#[test]
fn a_full_disk_never_tears_credentials() {
    let Some(fs) = Tmpfs::mount("2m") else { return };
    let dir = fs.path();
    // Leave a few bytes of slack in the file's last page, so the append is cut short
    // rather than refused outright.
    let mut creds = CREDENTIALS.to_string();
    while creds.len() < 4090 {
        creds.push('\n');
    }
    std::fs::write(dir.join("credentials.txt"), &creds).unwrap();
    let mut server = ServerProc::start(dir, &[]);
    let filler = fill(dir, 0);
    let mut c = Client::connect(server.addr);
    let r = c.try_login("newbie", "fresh#pass");
    assert_eq!(r.lines, [chinwag::text::SIGNUP_FAILED]);
    assert_eq!(r.then, Then::AskUsername);
    assert_eq!(
        std::fs::read_to_string(dir.join("credentials.txt")).unwrap(),
        creds
    );
    std::fs::remove_file(filler).unwrap();
    server.kill9();
    let server = ServerProc::start(dir, &[]);
    let mut c = Client::connect(server.addr);
    assert_eq!(c.try_login("newbie", "fresh#pass").then, Then::LoggedIn);
}

/// Finding 4: with 600 rooms on disk the server starts and serves under a limit of 256
/// open files (it used to keep every room's log open).
#[test]
fn many_rooms_fit_under_256_open_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("credentials.txt"), CREDENTIALS).unwrap();
    let mut list = String::new();
    for id in 1..=600 {
        let other = ["yoda", "luke", "leia", "vader", "obiwan"][id % 5];
        list.push_str(&format!("{id}; hans, {other}, x{id}\n"));
    }
    std::fs::write(dir.path().join("rooms.txt"), list).unwrap();
    let server = ServerProc::start_limited(dir.path(), &[], Some(256));
    let mut hans = Client::login(server.addr, "hans", password("hans"));
    let mut yoda = Client::login(server.addr, "yoda", password("yoda"));
    for room in (5..=600).step_by(5) {
        let r = hans.call(Command::Srm {
            room,
            text: format!("to room {room}"),
        });
        assert!(r.ok, "room {room}: {:?}", r.lines);
        assert_eq!(yoda.text(), format!("room-{room}: hans: to room {room}"));
    }
    let r = yoda.call(Command::Rdm {
        kind: "s".into(),
        since: "1 Jan 2000 00:00:00".into(),
    });
    assert!(r.lines.contains(&"room-600:".to_string()), "{:?}", r.lines);
    let mut clients: Vec<Client> = ["luke", "leia", "vader", "obiwan"]
        .iter()
        .map(|u| Client::login(server.addr, u, password(u)))
        .collect();
    assert!(clients[0].call(Command::WhoElse).ok);
    let fds = std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .count();
    println!("open files with 600 rooms and 6 clients: {fds}");
    assert!(fds < 64, "{fds} open files");
}

/// Finding 5: a socket that never logs in is closed after the login timeout (hidden
/// option, 30 s by default) with a reason; a logged-in user is not.
#[test]
fn a_connection_that_never_logs_in_is_closed() {
    let s = common::TestServer::with(|c| c.login_timeout = Duration::from_secs(1));
    let mut yoda = Client::login(s.addr, "yoda", password("yoda"));
    let mut idle = Client::connect(s.addr);
    idle.send_raw(b"{").unwrap();
    let started = std::time::Instant::now();
    match idle.event() {
        Event::Bye { text, code } => {
            assert_eq!(text, chinwag::text::LOGIN_TIMED_OUT);
            assert_eq!(code, 1);
        }
        other => panic!("expected a goodbye, got {other:?}"),
    }
    assert!(idle.read().is_none(), "closed after the goodbye");
    assert!(started.elapsed() < Duration::from_secs(5));
    common::eventually("the socket is forgotten", || s.connections() == 1);
    assert!(yoda.call(Command::WhoElse).ok);
}

/// Finding 5: one address can hold at most half of --max-clients before login (a new
/// one replaces its oldest), so a flood of sockets from it leaves room for everyone else,
/// including a real user from the same address.
#[test]
fn one_address_cannot_fill_the_server_before_login() {
    let s = common::TestServer::with(|c| c.max_clients = 10);
    let flood: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            let mut sock = std::net::TcpStream::connect(s.addr).unwrap();
            sock.write_all(b"{").unwrap();
            sock
        })
        .collect();
    // The count reaches 5 while later connections of the flood may still wait to be
    // accepted (and could then replace a login below): wait until the server has dealt
    // with all of them, 15 told and closed (replaced, or refused while replaced ones were
    // still closing).
    common::eventually("the flood is cut to its share", || {
        closed(&flood) == 15 && s.connections() == 5
    });
    let other: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let mut others: Vec<Client> = ["yoda", "hans", "luke"]
        .iter()
        .map(|u| {
            let mut c = Client::connect_from(other, s.addr);
            assert_eq!(c.try_login(u, password(u)).then, Then::LoggedIn);
            c
        })
        .collect();
    // The same address as the flood, while the flood still holds its sockets.
    let mut vader = Client::login(s.addr, "vader", password("vader"));
    assert!(vader.call(Command::WhoElse).ok);
    assert!(others[0].call(Command::WhoElse).ok);
    common::eventually("vader replaced one more of the flood", || {
        closed(&flood) == 16
    });
    // The oldest of the flood was told why and closed.
    let mut first = &flood[0];
    first.set_read_timeout(Some(common::WAIT)).unwrap();
    let mut told = String::new();
    let _ = std::io::Read::read_to_string(&mut first, &mut told);
    assert!(
        told.contains(chinwag::text::TOO_MANY_FROM_ADDRESS),
        "{told:?}"
    );
}

/// How many of `socks` the server has told something or closed (a pre-login connection
/// hears nothing else).
fn closed(socks: &[std::net::TcpStream]) -> usize {
    let mut byte = [0u8; 1];
    socks
        .iter()
        .filter(|sock| {
            sock.set_nonblocking(true).unwrap();
            let heard = !matches!(sock.peek(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
            sock.set_nonblocking(false).unwrap();
            heard
        })
        .count()
}
