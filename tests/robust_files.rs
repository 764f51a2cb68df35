//! Robustness, findings 9 to 11: symbolic links inside DATA_DIR are never followed, the
//! files holding passwords and private messages are 0600, credentials.txt problems are
//! reported with their line, and a client killed mid-download leaves no partial file.

mod common;

use chinwag::protocol::Command;
use common::{password, Client, ServerProc, TestServer, CREDENTIALS};
use std::os::unix::fs::{symlink, PermissionsExt};

/// Finding 9: DWN of a file replaced by a link, an upload into a folder replaced by a
/// link, and a post while the thread's temporary name is a link: none reaches outside.
#[test]
fn symbolic_links_in_the_data_dir_are_never_followed() {
    let s = TestServer::start();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret");
    std::fs::write(&secret, "top secret").unwrap();
    let mut hans = Client::login(s.addr, "hans", password("hans"));
    for title in ["S", "T", "U"] {
        assert!(
            hans.call(Command::Crt {
                title: title.into()
            })
            .ok
        );
    }
    assert!(hans.upload("S", "passwd", b"harmless").ok);
    let served = s.path("uploads").join("S").join("passwd");
    std::fs::remove_file(&served).unwrap();
    symlink(&secret, &served).unwrap();
    let got = hans.download("S", "passwd");
    assert!(got.is_err(), "served through a link: {got:?}");

    let folder = s.path("uploads").join("T");
    let _ = std::fs::remove_dir(&folder);
    symlink(outside.path(), &folder).unwrap();
    let r = hans.upload("T", "escape", b"data");
    assert!(!r.ok, "{:?}", r.lines);
    assert!(!outside.path().join("escape").exists());

    symlink(&secret, s.path("threads").join(".U.tmp")).unwrap();
    let r = hans.call(Command::Msg {
        title: "U".into(),
        text: "hello".into(),
    });
    assert!(r.ok, "{:?}", r.lines);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "top secret");
    let thread = std::fs::read_to_string(s.path("threads").join("U")).unwrap();
    assert!(thread.contains("hello"), "{thread}");
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Finding 10: credentials.txt and journal.jsonl are 0600, created so and tightened at
/// start-up when looser.
#[test]
fn credentials_and_the_offline_queue_are_private() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = ServerProc::start(dir.path(), &[]);
        let mut c = Client::connect(server.addr);
        c.try_login("newbie", "fresh#pass");
    }
    assert_eq!(mode(&dir.path().join("credentials.txt")), 0o600);
    assert_eq!(mode(&dir.path().join("journal.jsonl")), 0o600);
    for f in ["credentials.txt", "journal.jsonl"] {
        let p = dir.path().join(f);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let _server = ServerProc::start(dir.path(), &[]);
    assert_eq!(mode(&dir.path().join("credentials.txt")), 0o600);
    assert_eq!(mode(&dir.path().join("journal.jsonl")), 0o600);
}

/// Starts the server on `creds`; returns its exit status and what it printed.
fn start_on(creds: &[u8]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("credentials.txt"), creds).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chinwag-server"))
        .args(["0", "--data-dir"])
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + common::WAIT;
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), text)
}

/// Finding 11: a user listed twice, or a line that is not UTF-8, stops the server at
/// start-up naming the line.
#[test]
fn credentials_problems_are_reported_with_their_line() {
    let dup = format!("{CREDENTIALS}yoda other\n");
    let (ok, err) = start_on(dup.as_bytes());
    let line = CREDENTIALS.lines().count() + 1;
    assert!(!ok);
    assert!(err.contains(&format!("line {line}")), "{err}");
    let mut bad = CREDENTIALS.as_bytes().to_vec();
    bad.extend_from_slice(b"j\xffba hutt\n");
    let (ok, err) = start_on(&bad);
    assert!(!ok);
    assert!(
        err.contains(&format!("line {line}")) && err.contains("UTF-8"),
        "{err}"
    );
}

/// Finding 11: the partial file of a client killed mid-download (its PID gone) is removed
/// by the next download in that directory; one of a live client is left alone.
#[test]
fn a_killed_download_leaves_no_partial_file_behind() {
    let s = TestServer::start();
    let mut hans = Client::login(s.addr, "hans", password("hans"));
    assert!(hans.call(Command::Crt { title: "S".into() }).ok);
    assert!(hans.upload("S", "notes", b"the notes").ok);
    let home = tempfile::tempdir().unwrap();
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let stale = home.path().join(format!(".big.part-{dead_pid}"));
    let live = home
        .path()
        .join(format!(".big.part-{}", std::process::id()));
    std::fs::write(&stale, "half a file").unwrap();
    std::fs::write(&live, "still coming").unwrap();
    let mut yoda = common::Bin::connect(s.addr, home.path());
    yoda.login("yoda", password("yoda"));
    yoda.send("DWN S notes");
    yoda.expect("notes successfully downloaded");
    assert!(!stale.exists(), "stale partial download left behind");
    assert!(live.exists());
    assert_eq!(
        std::fs::read(home.path().join("notes")).unwrap(),
        b"the notes"
    );
}
