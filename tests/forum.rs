//! The forum (BEHAVIOUR.md 3.3), black-box: the 20T3 sample interaction with two real
//! clients, every error row, the thread file format on disk, hostile names, uploads and
//! downloads streamed as binary frames (killed mid-way, over the size limit, and a big
//! random file checked byte for byte while another client keeps chatting).
//!
//! UPD and DWN read and write the client's working directory, so most tests drive the
//! real `chinwag` binary, each client in a directory of its own; the protocol-level
//! `Client` is used to bypass the client's own checks and to pause a transfer midway.

mod common;

use chinwag::protocol::{Command, Event, Then};
use chinwag::text;
use common::{eventually, Bin, Client, TestServer, WAIT};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------
// Helpers

/// Sends `cmd` and asserts that exactly the lines `want` come next, in order (presence
/// notices about other users, which may arrive at any moment, aside).
fn says(bin: &mut Bin, cmd: &str, want: &[&str]) {
    let mark = bin.seen.len();
    bin.send(cmd);
    for w in want {
        bin.expect(w);
    }
    let presence = |l: &&String| l.ends_with(" logged in") || l.ends_with(" logged out");
    let got: Vec<&String> = bin.seen[mark..].iter().filter(|l| !presence(l)).collect();
    assert_eq!(got, *want, "after {cmd:?}");
}

/// A real client logged in as `user`, working in a fresh directory.
fn user_bin(s: &TestServer, user: &str, pw: &str) -> (Bin, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut bin = Bin::connect(s.addr, dir.path());
    bin.login(user, pw);
    (bin, dir)
}

/// A server started with the forum short form (`PORT destroyforum`): SHT enabled and
/// wiping threads and uploads.
fn forum_server() -> TestServer {
    TestServer::with(|c| {
        c.admin_password = Some("destroyforum".into());
        c.wipe_forum_on_shutdown = true;
    })
}

/// Fills `path` with `size` pseudo-random bytes (xorshift: incompressible, fast in debug).
fn random_file(path: &Path, size: usize, seed: u64) {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut x = seed | 1;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(buf.len());
        w.write_all(&buf[..n]).unwrap();
        left -= n;
    }
    w.flush().unwrap();
}

fn hash_file(path: &Path) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    h.update_reader(File::open(path).unwrap()).unwrap();
    h.finalize()
}

/// Every path under `root`, relative, sorted.
fn tree(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            out.insert(path.strip_prefix(root).unwrap().to_path_buf());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

/// Names in `dir` that start with `prefix` (partial files), if `dir` exists.
fn starting_with(dir: &Path, prefix: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

fn thread_file(s: &TestServer, title: &str) -> String {
    fs::read_to_string(s.path("threads").join(title)).unwrap()
}

fn line(s: &str) -> Vec<String> {
    vec![s.to_string()]
}

fn crt(title: &str) -> Command {
    Command::Crt {
        title: title.into(),
    }
}

fn msg(title: &str, text: &str) -> Command {
    Command::Msg {
        title: title.into(),
        text: text.into(),
    }
}

// ---------------------------------------------------------------------------------------
// The 20T3 sample interaction (assignments.md 3.8), every line

#[test]
fn sample_interaction_of_the_forum_assignment_with_two_real_clients() {
    let s = TestServer::with(|c| {
        fs::write(&c.credentials, "Yoda jedi*knight\n").unwrap();
        c.admin_password = Some("destroyforum".into());
        c.wipe_forum_on_shutdown = true;
    });
    let (dy, dobi) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    random_file(&dy.path().join("test.exe"), 100_000, 3331);

    let mut yoda = Bin::connect(s.addr, dy.path());
    yoda.expect("Username:");
    says(&mut yoda, "Yoda", &["Password:"]);
    says(
        &mut yoda,
        "sdrfdfs12",
        &[text::INVALID_PASSWORD_RETRY, "Password:"],
    );
    says(&mut yoda, "jedi*knight", &[text::WELCOME]);
    says(&mut yoda, "LST", &["No threads to list"]);
    says(&mut yoda, "HELLO", &["Error. Invalid command"]);
    says(&mut yoda, "CRT 3331", &["Thread 3331 created"]);
    says(&mut yoda, "CRT 3331", &["Thread 3331 exists"]);
    says(&mut yoda, "CRT 9331", &["Thread 9331 created"]);
    says(&mut yoda, "LST 3331", &["Incorrect syntax for LST"]);
    let list = ["The list of active threads:", "3331", "9331"];
    says(&mut yoda, "LST", &list);
    says(
        &mut yoda,
        "MSG 3331 Networks is awesome",
        &["Message posted to 3331 thread"],
    );
    says(&mut yoda, "RDT", &["Incorrect syntax for RDT"]);
    says(&mut yoda, "RDT 9331", &["Thread 9331 is empty"]);
    says(&mut yoda, "RDT 3331", &["1 Yoda: Networks is awesome"]);
    says(
        &mut yoda,
        "UPD 3331 test.exe",
        &["test.exe uploaded to 3331 thread"],
    );
    let read = ["1 Yoda: Networks is awesome", "Yoda uploaded test.exe"];
    says(&mut yoda, "RDT 3331", &read);
    says(&mut yoda, "RMV 9331", &["The thread has been removed"]);
    says(&mut yoda, "XIT", &["Goodbye"]);
    assert_eq!(yoda.exit_code(), 0);

    let mut obi = Bin::connect(s.addr, dobi.path());
    obi.expect("Username:");
    says(
        &mut obi,
        "Obi-wan",
        &["This is a new user. Enter a password:"],
    );
    says(&mut obi, "r2d2", &[text::WELCOME]);
    says(&mut obi, "CRT 9331", &["Thread 9331 created"]);
    says(
        &mut obi,
        "MSG 9331 Networks exam PWNED me",
        &["Message posted to 9331 thread"],
    );
    says(
        &mut obi,
        "MSG 3331 Networks exam PWNED me",
        &["Message posted to 3331 thread"],
    );
    says(&mut obi, "LST", &list);
    says(&mut obi, "RDT 331", &["Thread 331 does not exist"]);
    let read = [
        "1 Yoda: Networks is awesome",
        "Yoda uploaded test.exe",
        "2 Obi-wan: Networks exam PWNED me",
    ];
    says(&mut obi, "RDT 3331", &read);
    says(
        &mut obi,
        "DWN 9331 test.exe",
        &["File does not exist in Thread 9331"],
    );
    says(
        &mut obi,
        "DWN 3331 test.exe",
        &["test.exe successfully downloaded"],
    );
    assert_eq!(
        hash_file(&dobi.path().join("test.exe")),
        hash_file(&dy.path().join("test.exe"))
    );
    says(
        &mut obi,
        "EDT 3331 1 I PWNED Networks exam",
        &[text::NOT_AUTHOR_EDIT],
    );
    says(
        &mut obi,
        "EDT 3331 2 I PWNED Networks exam",
        &["The message has been edited"],
    );
    says(&mut obi, "RMV 3331", &[text::NOT_CREATOR]);
    says(&mut obi, "RMV 9331", &["The thread has been removed"]);
    says(&mut obi, "LST", &["The list of active threads:", "3331"]);
    assert_eq!(
        thread_file(&s, "3331"),
        "Yoda\n1 Yoda: Networks is awesome\nYoda uploaded test.exe\n\
         2 Obi-wan: I PWNED Networks exam\n"
    );
    assert!(s.path("uploads/3331/test.exe").is_file());
    says(&mut obi, "SHT", &["Incorrect syntax for SHT"]);
    says(&mut obi, "SHT monkey", &["Incorrect password"]);
    says(&mut obi, "SHT destroyforum", &[text::SHUTTING_DOWN]);
    assert_eq!(obi.exit_code(), 0);

    // The forum short form wipes threads and uploads; credentials stay, sign-up included.
    eventually("the server to stop", || s.connections() == 0);
    assert!(s.state.is_shutting_down());
    assert!(tree(&s.path("threads")).is_empty());
    assert!(tree(&s.path("uploads")).is_empty());
    let creds = fs::read_to_string(s.path("credentials.txt")).unwrap();
    assert!(creds.starts_with("Yoda jedi*knight\nObi-wan "), "{creds}");
}

// ---------------------------------------------------------------------------------------
// Every error row of 3.3

#[test]
fn every_error_row_of_the_forum_is_exact() {
    let s = TestServer::start();
    let (mut yoda, dy) = user_bin(&s, "yoda", "wise");
    let (mut hans, dh) = user_bin(&s, "hans", "indiana#jones");
    says(&mut yoda, "CRT 3331", &["Thread 3331 created"]);
    says(&mut yoda, "CRT 9331", &["Thread 9331 created"]);
    says(
        &mut yoda,
        "MSG 3331 mine",
        &["Message posted to 3331 thread"],
    );

    // Missing thread, for every command that names one.
    for cmd in [
        "RDT 331",
        "MSG 331 hello",
        "DLT 331 1",
        "EDT 331 1 hi",
        "RMV 331",
        "DWN 331 test.exe",
    ] {
        says(&mut yoda, cmd, &["Thread 331 does not exist"]);
    }
    // Bad message numbers, and numbers that are not numbers.
    let no7 = "Message 7 does not exist in thread 3331";
    says(&mut yoda, "DLT 3331 7", &[no7]);
    says(&mut yoda, "EDT 3331 7 hello", &[no7]);
    says(
        &mut yoda,
        "DLT 3331 0",
        &["Message 0 does not exist in thread 3331"],
    );
    says(&mut yoda, "DLT 3331 one", &["Incorrect syntax for DLT"]);
    says(
        &mut yoda,
        "EDT 3331 one hello",
        &["Incorrect syntax for EDT"],
    );
    says(&mut yoda, "DLT 3331 -1", &["Incorrect syntax for DLT"]);

    // UPD of a missing local file; of a name already in the thread.
    says(
        &mut yoda,
        "UPD 3331 test.exe",
        &["Error. test.exe does not exist"],
    );
    fs::write(dy.path().join("test.exe"), b"original").unwrap();
    says(
        &mut yoda,
        "UPD 3331 test.exe",
        &["test.exe uploaded to 3331 thread"],
    );
    says(
        &mut yoda,
        "UPD 3331 test.exe",
        &["Error. test.exe already exists in thread 3331"],
    );
    says(
        &mut yoda,
        "UPD 331 test.exe",
        &["Thread 331 does not exist"],
    );

    // DWN of a file not in the thread; when the file already exists locally.
    says(
        &mut hans,
        "DWN 9331 test.exe",
        &["File does not exist in Thread 9331"],
    );
    fs::write(dh.path().join("test.exe"), b"hans's own").unwrap();
    says(
        &mut hans,
        "DWN 3331 test.exe",
        &["Error. test.exe already exists locally"],
    );
    assert_eq!(fs::read(dh.path().join("test.exe")).unwrap(), b"hans's own");
    assert_eq!(fs::read_dir(dh.path()).unwrap().count(), 1);

    // Not the author, not the creator.
    says(&mut hans, "DLT 3331 1", &[text::NOT_AUTHOR_DELETE]);
    says(&mut hans, "EDT 3331 1 mine now", &[text::NOT_AUTHOR_EDIT]);
    says(&mut hans, "RMV 3331", &[text::NOT_CREATOR]);
    says(
        &mut hans,
        "RDT 3331",
        &["1 yoda: mine", "yoda uploaded test.exe"],
    );

    // Wrong argument counts.
    for cmd in [
        "CRT",
        "CRT a b",
        "MSG",
        "MSG 3331",
        "MSG 3331 ",
        "DLT",
        "DLT 3331",
        "DLT 3331 1 2",
        "EDT",
        "EDT 3331",
        "EDT 3331 1",
        "LST 3331",
        "RDT",
        "RDT a b",
        "UPD",
        "UPD 3331",
        "UPD 3331 a b",
        "DWN",
        "DWN 3331",
        "DWN 3331 a b",
        "RMV",
        "RMV a b",
        "XIT now",
        "SHT",
        "SHT a b",
        "CRT  3331",
    ] {
        let name = &cmd[..3];
        says(&mut yoda, cmd, &[&text::incorrect_syntax(name)]);
    }

    // No admin password configured: shutdown is refused.
    says(
        &mut yoda,
        "SHT destroyforum",
        &["Error. Shutdown is disabled on this server"],
    );
    assert!(!s.state.is_shutting_down());
    // Nothing above changed the thread.
    assert_eq!(
        thread_file(&s, "3331"),
        "yoda\n1 yoda: mine\nyoda uploaded test.exe\n"
    );
}

#[test]
fn sht_with_a_wrong_password_is_refused_and_the_server_keeps_going() {
    let s = forum_server();
    let (mut yoda, _d) = user_bin(&s, "yoda", "wise");
    says(&mut yoda, "SHT monkey", &["Incorrect password"]);
    says(&mut yoda, "CRT 3331", &["Thread 3331 created"]);
    assert!(!s.state.is_shutting_down());
}

#[test]
fn sht_tells_every_client_and_only_the_short_form_wipes_the_forum() {
    for wipe in [true, false] {
        let s = TestServer::with(|c| {
            c.admin_password = Some("destroyforum".into());
            c.wipe_forum_on_shutdown = wipe;
        });
        let (mut yoda, dy) = user_bin(&s, "yoda", "wise");
        let (mut hans, _dh) = user_bin(&s, "hans", "indiana#jones");
        let mut luke = Client::login(s.addr, "luke", "lightsaber@#");
        says(&mut yoda, "CRT 3331", &["Thread 3331 created"]);
        yoda.send("BCM kept");
        yoda.expect("Broadcast message, #1 broadcast at");
        fs::write(dy.path().join("f.txt"), b"data").unwrap();
        says(
            &mut yoda,
            "UPD 3331 f.txt",
            &["f.txt uploaded to 3331 thread"],
        );
        hans.send("SHT destroyforum");
        hans.expect(text::SHUTTING_DOWN);
        yoda.expect(text::SHUTTING_DOWN);
        assert_eq!(hans.exit_code(), 0);
        assert_eq!(yoda.exit_code(), 0);
        loop {
            if let Event::Bye { text: t, code } = luke.event() {
                assert_eq!((t.as_str(), code), (text::SHUTTING_DOWN, 0));
                break;
            }
        }
        eventually("the server to stop", || s.connections() == 0);
        assert_eq!(s.path("threads/3331").exists(), !wipe, "wipe={wipe}");
        assert_eq!(s.path("uploads/3331/f.txt").exists(), !wipe, "wipe={wipe}");
        assert!(s.path("credentials.txt").is_file());
        let log = fs::read_to_string(s.path("messagelog.txt")).unwrap();
        assert!(log.contains("; yoda; kept"), "{log}");
    }
}

#[test]
fn xit_says_goodbye_and_others_see_the_user_leave() {
    let s = TestServer::start();
    let mut hans = Client::login(s.addr, "hans", "indiana#jones");
    let (mut yoda, _d) = user_bin(&s, "yoda", "wise");
    assert_eq!(hans.text(), "yoda logged in");
    says(&mut yoda, "XIT", &["Goodbye"]);
    assert_eq!(yoda.exit_code(), 0);
    assert_eq!(hans.text(), "yoda logged out");
}

// ---------------------------------------------------------------------------------------
// The thread file on disk

#[test]
fn thread_file_format_and_dlt_renumbers() {
    let s = TestServer::start();
    let mut yoda = Client::login(s.addr, "yoda", "wise");
    let mut hans = Client::login(s.addr, "hans", "indiana#jones");
    assert_eq!(yoda.lines(crt("3331")), line("Thread 3331 created"));
    assert_eq!(thread_file(&s, "3331"), "yoda\n");
    let posted = line("Message posted to 3331 thread");
    assert_eq!(yoda.lines(msg("3331", "first")), posted);
    assert_eq!(hans.lines(msg("3331", "second: with a colon")), posted);
    assert_eq!(yoda.lines(msg("3331", "third")), posted);
    let r = hans.upload("3331", "notes.txt", b"some notes");
    assert_eq!(r.lines, line("notes.txt uploaded to 3331 thread"));
    assert_eq!(yoda.lines(msg("3331", "fourth")).len(), 1);
    assert_eq!(
        thread_file(&s, "3331"),
        "yoda\n1 yoda: first\n2 hans: second: with a colon\n3 yoda: third\n\
         hans uploaded notes.txt\n4 yoda: fourth\n"
    );

    // DLT removes the line and renumbers the later posts; uploads are not numbered.
    let dlt = |n| Command::Dlt {
        title: "3331".into(),
        n,
    };
    assert_eq!(yoda.lines(dlt(1)), line(text::MESSAGE_DELETED));
    assert_eq!(
        thread_file(&s, "3331"),
        "yoda\n1 hans: second: with a colon\n2 yoda: third\nhans uploaded notes.txt\n3 yoda: fourth\n"
    );
    // EDT keeps the number and the author.
    let edt = Command::Edt {
        title: "3331".into(),
        n: 2,
        text: "third, edited".into(),
    };
    assert_eq!(yoda.lines(edt), line(text::MESSAGE_EDITED));
    assert_eq!(hans.lines(dlt(2)), line(text::NOT_AUTHOR_DELETE));
    assert_eq!(hans.lines(dlt(1)), line(text::MESSAGE_DELETED));
    let want = "yoda\n1 yoda: third, edited\nhans uploaded notes.txt\n2 yoda: fourth\n";
    assert_eq!(thread_file(&s, "3331"), want);
    // A line break in a post cannot break the format.
    yoda.lines(msg("3331", "two\nlines"));
    assert_eq!(
        thread_file(&s, "3331"),
        format!("{want}3 yoda: two lines\n")
    );
    // RDT shows the file minus the creator line.
    let rdt = Command::Rdt {
        title: "3331".into(),
    };
    assert_eq!(
        hans.lines(rdt),
        [
            "1 yoda: third, edited",
            "hans uploaded notes.txt",
            "2 yoda: fourth",
            "3 yoda: two lines"
        ]
    );
}

#[test]
fn rmv_deletes_the_thread_and_its_uploads() {
    let s = TestServer::start();
    let mut yoda = Client::login(s.addr, "yoda", "wise");
    yoda.lines(crt("3331"));
    yoda.lines(crt("keep"));
    assert!(yoda.upload("3331", "a.bin", &[1; 1000]).ok);
    assert!(yoda.upload("3331", "b.bin", &[2; 70_000]).ok);
    assert!(yoda.upload("keep", "a.bin", &[3; 10]).ok);
    assert!(s.path("uploads/3331/b.bin").is_file());
    let rmv = Command::Rmv {
        title: "3331".into(),
    };
    assert_eq!(yoda.lines(rmv), line(text::THREAD_REMOVED));
    assert!(!s.path("threads/3331").exists());
    eventually("the uploads to go", || !s.path("uploads/3331").exists());
    assert_eq!(
        tree(&s.path("uploads")),
        ["keep", "keep/a.bin"].iter().map(PathBuf::from).collect()
    );
    assert_eq!(yoda.lines(Command::Lst), [text::THREAD_LIST, "keep"]);
    // A new thread with the same title starts with nothing.
    yoda.lines(crt("3331"));
    assert_eq!(
        yoda.download("3331", "a.bin").unwrap_err(),
        line("File does not exist in Thread 3331")
    );
    assert_eq!(yoda.download("keep", "a.bin").unwrap(), vec![3; 10]);
}

#[test]
fn users_with_any_legal_name_can_use_the_forum() {
    // `/`, `\` and a leading dot are legal in usernames; a username is never a path.
    let s = TestServer::start();
    for user in ["luke/sky", "back\\slash", ".dot", "a:b"] {
        let mut c = Client::login(s.addr, user, "pw");
        let title = format!("t{}", user.len());
        assert_eq!(
            c.lines(crt(&title)),
            line(&format!("Thread {title} created"))
        );
        assert_eq!(c.lines(msg(&title, "hi")).len(), 1);
        assert!(c.upload(&title, "f", b"x").ok);
        let rdt = Command::Rdt {
            title: title.clone(),
        };
        assert_eq!(
            c.lines(rdt),
            [format!("1 {user}: hi"), format!("{user} uploaded f")]
        );
        let dlt = Command::Dlt {
            title: title.clone(),
            n: 1,
        };
        assert_eq!(c.lines(dlt), line(text::MESSAGE_DELETED));
        let rmv = Command::Rmv { title };
        assert_eq!(c.lines(rmv), line(text::THREAD_REMOVED));
    }
}

// ---------------------------------------------------------------------------------------
// Hostile names

fn hostile_names() -> Vec<String> {
    let mut v: Vec<String> = [
        "../x",
        "/etc/passwd",
        "a/../../b",
        "..\\x",
        ".hidden",
        ".",
        "..",
        "../../../x",
        "../credentials.txt",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("a".repeat(300));
    v
}

#[test]
fn hostile_titles_and_file_names_are_refused_by_the_client() {
    let s = TestServer::start();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("client");
    fs::create_dir(&dir).unwrap();
    fs::write(root.path().join("x"), b"outside").unwrap();
    fs::write(dir.join("ok.txt"), b"ok").unwrap();
    let mut yoda = Bin::connect(s.addr, &dir);
    yoda.login("yoda", "wise");
    says(&mut yoda, "CRT 3331", &["Thread 3331 created"]);
    says(
        &mut yoda,
        "UPD 3331 ok.txt",
        &["ok.txt uploaded to 3331 thread"],
    );
    let (before_server, before_client) = (tree(s.dir.path()), tree(root.path()));
    for name in hostile_names() {
        let title = text::invalid_title(&name);
        let file = text::invalid_file_name(&name);
        says(&mut yoda, &format!("CRT {name}"), &[&title]);
        says(&mut yoda, &format!("MSG {name} hi"), &[&title]);
        says(&mut yoda, &format!("RDT {name}"), &[&title]);
        says(&mut yoda, &format!("RMV {name}"), &[&title]);
        says(&mut yoda, &format!("DLT {name} 1"), &[&title]);
        says(&mut yoda, &format!("EDT {name} 1 hi"), &[&title]);
        says(&mut yoda, &format!("UPD {name} ok.txt"), &[&title]);
        says(&mut yoda, &format!("DWN {name} ok.txt"), &[&title]);
        says(&mut yoda, &format!("UPD 3331 {name}"), &[&file]);
        says(&mut yoda, &format!("DWN 3331 {name}"), &[&file]);
    }
    says(&mut yoda, "LST", &[text::THREAD_LIST, "3331"]);
    assert_eq!(tree(s.dir.path()), before_server);
    assert_eq!(tree(root.path()), before_client);
    assert_eq!(fs::read(root.path().join("x")).unwrap(), b"outside");
}

#[test]
fn hostile_titles_and_file_names_are_refused_by_the_server() {
    // The data directory is `root/data`, so an escape would land in `root`.
    let s = TestServer::with(|c| c.data_dir = c.data_dir.join("data"));
    let data = s.path("data");
    let mut c = Client::login(s.addr, "yoda", "wise");
    c.lines(crt("3331"));
    assert!(c.upload("3331", "ok.txt", b"ok").ok);
    let passwd = fs::metadata("/etc/passwd").map(|m| m.len()).ok();
    let before = tree(s.dir.path());
    for name in hostile_names() {
        let title = line(&text::invalid_title(&name));
        let file = line(&text::invalid_file_name(&name));
        let t = || name.clone();
        let cmds = [
            crt(&name),
            msg(&name, "hi"),
            Command::Rdt { title: t() },
            Command::Rmv { title: t() },
            Command::Dlt { title: t(), n: 1 },
            Command::Edt {
                title: t(),
                n: 1,
                text: "hi".into(),
            },
        ];
        for cmd in cmds {
            let r = c.call(cmd.clone());
            assert!(!r.ok, "{cmd:?}");
            assert_eq!(r.lines, title, "{cmd:?}");
        }
        let r = c.upload(&name, "f.txt", b"data");
        assert_eq!((r.ok, &r.then, &r.lines), (false, &Then::Continue, &title));
        let r = c.upload("3331", &name, b"data");
        assert_eq!((r.ok, &r.then, &r.lines), (false, &Then::Continue, &file));
        assert_eq!(c.download(&name, "ok.txt").unwrap_err(), title);
        assert_eq!(c.download("3331", &name).unwrap_err(), file);
    }
    assert_eq!(tree(s.dir.path()), before);
    assert!(data.join("uploads/3331/ok.txt").is_file());
    assert_eq!(fs::metadata("/etc/passwd").map(|m| m.len()).ok(), passwd);
    assert_eq!(c.lines(Command::Lst), [text::THREAD_LIST, "3331"]);
}

// ---------------------------------------------------------------------------------------
// Transfers: partial uploads, limits, concurrency

#[test]
fn a_connection_lost_mid_upload_leaves_no_partial_file_and_frees_the_name() {
    let s = TestServer::start();
    let mut yoda = Client::login(s.addr, "yoda", "wise");
    yoda.lines(crt("3331"));
    let id = yoda.send(Command::Upd {
        title: "3331".into(),
        file: "big.bin".into(),
        size: 10_000_000,
    });
    assert_eq!(yoda.wait(id).then, Then::SendData);
    for _ in 0..20 {
        yoda.send_frame(&[7; 64 * 1024]);
    }
    let dir = s.path("uploads/3331");
    eventually("the partial file", || !starting_with(&dir, ".").is_empty());
    // The name is reserved while the upload runs.
    let mut hans = Client::login(s.addr, "hans", "indiana#jones");
    let r = hans.upload("3331", "big.bin", b"mine");
    assert_eq!(
        r.lines,
        line("Error. big.bin already exists in thread 3331")
    );
    drop(yoda);
    eventually("the partial file to go", || {
        starting_with(&dir, ".").is_empty()
    });
    assert!(!dir.join("big.bin").exists());
    let r = hans.upload("3331", "big.bin", b"mine");
    assert_eq!(r.lines, line("big.bin uploaded to 3331 thread"));
    assert_eq!(thread_file(&s, "3331"), "yoda\nhans uploaded big.bin\n");
    assert_eq!(hans.download("3331", "big.bin").unwrap(), b"mine");
}

#[test]
fn a_client_killed_mid_upload_leaves_no_partial_file_and_frees_the_name() {
    let s = TestServer::start();
    let (mut yoda, dy) = user_bin(&s, "yoda", "wise");
    says(&mut yoda, "CRT 3331", &["Thread 3331 created"]);
    // A sparse file: large enough that the upload is still running when it is seen.
    let f = File::create(dy.path().join("big.bin")).unwrap();
    f.set_len(2 << 30).unwrap();
    drop(f);
    let dir = s.path("uploads/3331");
    yoda.send("UPD 3331 big.bin");
    let deadline = Instant::now() + WAIT;
    while starting_with(&dir, ".").is_empty() {
        assert!(Instant::now() < deadline, "no partial file appeared");
        std::thread::sleep(Duration::from_millis(1));
    }
    yoda.kill();
    assert!(
        !dir.join("big.bin").exists(),
        "the upload finished too soon"
    );
    eventually("the partial file to go", || {
        starting_with(&dir, ".").is_empty()
    });
    assert!(!dir.join("big.bin").exists());
    assert_eq!(thread_file(&s, "3331"), "yoda\n");
    let (mut hans, dh) = user_bin(&s, "hans", "indiana#jones");
    fs::write(dh.path().join("big.bin"), b"small now").unwrap();
    says(
        &mut hans,
        "UPD 3331 big.bin",
        &["big.bin uploaded to 3331 thread"],
    );
    assert_eq!(fs::read(dir.join("big.bin")).unwrap(), b"small now");
}

#[test]
fn an_upload_over_the_limit_is_refused_cleanly() {
    let s = TestServer::with(|c| c.max_upload = 1000);
    let (mut yoda, dy) = user_bin(&s, "yoda", "wise");
    says(&mut yoda, "CRT 3331", &["Thread 3331 created"]);
    random_file(&dy.path().join("big.bin"), 1001, 1);
    random_file(&dy.path().join("fits.bin"), 1000, 2);
    says(
        &mut yoda,
        "UPD 3331 big.bin",
        &["Error. big.bin is larger than the server accepts (1000 bytes)"],
    );
    // The connection is still in step: the next commands work.
    says(
        &mut yoda,
        "UPD 3331 fits.bin",
        &["fits.bin uploaded to 3331 thread"],
    );
    says(&mut yoda, "RDT 3331", &["yoda uploaded fits.bin"]);
    assert_eq!(
        tree(&s.path("uploads")),
        ["3331", "3331/fits.bin"]
            .iter()
            .map(PathBuf::from)
            .collect()
    );
    // A client that declares less than it sends is refused, and nothing is kept.
    let mut c = Client::login(s.addr, "hans", "indiana#jones");
    let id = c.send(Command::Upd {
        title: "3331".into(),
        file: "liar.bin".into(),
        size: 10,
    });
    assert_eq!(c.wait(id).then, Then::SendData);
    c.send_frame(&[0; 900]);
    c.send_frame(&[]);
    let r = c.wait(id);
    assert!(!r.ok, "{r:?}");
    assert!(!s.path("uploads/3331/liar.bin").exists());
    assert!(starting_with(&s.path("uploads/3331"), ".").is_empty());
    assert_eq!(c.lines(Command::Lst), [text::THREAD_LIST, "3331"]);
}

#[test]
fn the_server_binary_takes_max_upload() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("credentials.txt"), common::CREDENTIALS).unwrap();
    let server = common::ServerProc::start(dir.path(), &["--max-upload", "1000"]);
    let mut c = Client::login(server.addr, "yoda", "wise");
    c.lines(crt("3331"));
    let r = c.upload("3331", "big.bin", &[0; 1001]);
    assert_eq!(
        r.lines,
        line("Error. big.bin is larger than the server accepts (1000 bytes)")
    );
    assert_eq!(
        c.upload("3331", "ok.bin", &[0; 1000]).lines,
        line("ok.bin uploaded to 3331 thread")
    );
}

// ---------------------------------------------------------------------------------------
// Others are served while a transfer runs

/// One chat round trip: `from` messages `to` and `to` sees it.
fn chat_round_trip(from: &mut Client, to: &mut Client, i: usize) {
    let text = format!("ping {i}");
    let r = from.call(Command::Message {
        to: to.name.clone(),
        text: text.clone(),
    });
    assert!(r.ok, "{r:?}");
    assert_eq!(said(to), format!("{}: {text}", from.name));
}

/// The next text line that is not a presence notice.
fn said(c: &mut Client) -> String {
    loop {
        let t = c.text();
        if !t.ends_with(" logged in") && !t.ends_with(" logged out") {
            return t;
        }
    }
}

#[test]
fn others_are_served_while_a_transfer_is_paused_midway() {
    let s = TestServer::start();
    let mut yoda = Client::login(s.addr, "yoda", "wise");
    let mut hans = Client::login(s.addr, "hans", "indiana#jones");
    let mut luke = Client::login(s.addr, "luke", "lightsaber@#");
    yoda.lines(crt("3331"));
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let (first, second) = data.split_at(600_000);

    // Upload: half sent, the others chat (also to the uploader), then the rest.
    let id = yoda.send(Command::Upd {
        title: "3331".into(),
        file: "d.bin".into(),
        size: data.len() as u64,
    });
    assert_eq!(yoda.wait(id).then, Then::SendData);
    for chunk in first.chunks(64 * 1024) {
        yoda.send_frame(chunk);
    }
    chat_round_trip(&mut hans, &mut luke, 1);
    assert_eq!(hans.lines(Command::Lst), [text::THREAD_LIST, "3331"]);
    assert_eq!(
        hans.call(Command::Message {
            to: "yoda".into(),
            text: "during upload".into()
        })
        .lines,
        Vec::<String>::new()
    );
    for chunk in second.chunks(64 * 1024) {
        yoda.send_frame(chunk);
    }
    yoda.send_frame(&[]);
    assert_eq!(yoda.wait(id).lines, line("d.bin uploaded to 3331 thread"));
    assert_eq!(said(&mut yoda), "hans: during upload");

    // Download: a few frames read, the others chat, then the rest.
    let r = yoda.call(Command::Dwn {
        title: "3331".into(),
        file: "d.bin".into(),
    });
    assert_eq!(
        r.then,
        Then::ReceiveData {
            size: data.len() as u64
        }
    );
    let mut got = Vec::new();
    for _ in 0..3 {
        got.extend(yoda.read_frame().unwrap());
    }
    chat_round_trip(&mut luke, &mut hans, 2);
    hans.call(Command::Message {
        to: "yoda".into(),
        text: "during download".into(),
    });
    loop {
        let chunk = yoda.read_frame().unwrap();
        if chunk.is_empty() {
            break;
        }
        got.extend(chunk);
    }
    assert!(got == data, "download differs");
    // Lines for the downloader wait until the frames are through (never between them).
    assert!(yoda.events.is_empty(), "{:?}", yoda.events);
    assert_eq!(said(&mut yoda), "hans: during download");
    assert_eq!(yoda.lines(Command::Lst), [text::THREAD_LIST, "3331"]);
}

/// Waits, chatting from `hans` to `luke` all along, until `done()`; counts the round trips
/// made entirely while `running()` (a transfer's partial file existed before and after).
fn chat_until(
    hans: &mut Client,
    luke: &mut Client,
    running: impl Fn() -> bool,
    done: impl Fn() -> bool,
    limit: Duration,
) -> usize {
    let deadline = Instant::now() + limit;
    let (mut during, mut i) = (0, 0);
    while !done() {
        assert!(Instant::now() < deadline, "the transfer did not finish");
        let before = running();
        chat_round_trip(hans, luke, i);
        i += 1;
        if before && running() {
            during += 1;
        }
    }
    during
}

/// A random file of `size` bytes uploaded by one real client and downloaded by another,
/// byte-identical (blake3 of the source, the server's copy and the download), while a
/// third client keeps chatting to a fourth.
fn big_round_trip(size: usize, limit: Duration) {
    // The chat runs flat out (no pauses to hit or miss the transfer), so lift the
    // per-connection command rate limit.
    let s = TestServer::with(|c| {
        c.rate_limit = 1_000_000;
        c.rate_burst = 1_000_000;
    });
    let (mut yoda, dy) = user_bin(&s, "yoda", "wise");
    let (mut leia, dl) = user_bin(&s, "leia", "hairbuns*united");
    let mut hans = Client::login(s.addr, "hans", "indiana#jones");
    let mut luke = Client::login(s.addr, "luke", "lightsaber@#");
    let src = dy.path().join("big.bin");
    random_file(&src, size, 0x5eed);
    says(&mut yoda, "CRT big", &["Thread big created"]);
    let up_dir = s.path("uploads/big");
    let stored = up_dir.join("big.bin");

    let started = Instant::now();
    yoda.send("UPD big big.bin");
    let partial = || !starting_with(&up_dir, ".big.bin.part").is_empty();
    eventually("the upload to start", || partial() || stored.exists());
    let during_up = chat_until(&mut hans, &mut luke, partial, || stored.exists(), limit);
    yoda.expect("big.bin uploaded to big thread");
    let up = started.elapsed();

    let started = Instant::now();
    leia.send("DWN big big.bin");
    let got = dl.path().join("big.bin");
    let partial = || !starting_with(dl.path(), ".big.bin.part").is_empty();
    eventually("the download to start", || partial() || got.exists());
    let during_down = chat_until(&mut hans, &mut luke, partial, || got.exists(), limit);
    leia.expect("big.bin successfully downloaded");
    let down = started.elapsed();

    let mb = size as f64 / f64::from(1 << 20);
    eprintln!(
        "{mb:.0} MiB: upload {:.0} MiB/s with {during_up} chat round trips meanwhile; \
         download {:.0} MiB/s with {during_down}",
        mb / up.as_secs_f64(),
        mb / down.as_secs_f64()
    );
    assert!(
        during_up > 0 && during_down > 0,
        "nobody was served meanwhile"
    );
    let want = hash_file(&src);
    assert_eq!(hash_file(&stored), want, "server copy");
    assert_eq!(hash_file(&got), want, "downloaded copy");
    assert_eq!(fs::metadata(&got).unwrap().len(), size as u64);
    assert!(starting_with(dl.path(), ".").is_empty());
    assert!(starting_with(&up_dir, ".").is_empty());
    says(&mut leia, "RDT big", &["yoda uploaded big.bin"]);
}

#[test]
fn a_20_mb_random_file_round_trips_byte_identical_while_others_chat() {
    big_round_trip(20 << 20, Duration::from_secs(60));
}

/// About 8 to 15 s in a debug build on the 2-core machine, so not ignored.
#[test]
fn a_200_mb_random_file_round_trips_byte_identical_while_others_chat() {
    big_round_trip(200 << 20, Duration::from_secs(300));
}

#[test]
fn a_slow_transfer_is_activity_for_the_idle_timeout() {
    // 0.7 s, so a loaded cluster node's Redis calls around the upload (CRT, the
    // upload's reservation and publication) fit inside it; 0.4 s failed once there.
    let s = TestServer::with(|c| c.timeout = Some(Duration::from_millis(700)));
    let mut yoda = Client::login(s.addr, "yoda", "wise");
    yoda.lines(crt("3331"));
    // An upload trickling in for 2.5 times the timeout.
    let id = yoda.send(Command::Upd {
        title: "3331".into(),
        file: "slow.bin".into(),
        size: 35 * 1000,
    });
    assert_eq!(yoda.wait(id).then, Then::SendData);
    for _ in 0..35 {
        yoda.send_frame(&[1; 1000]);
        std::thread::sleep(Duration::from_millis(50));
    }
    yoda.send_frame(&[]);
    assert_eq!(
        yoda.wait(id).lines,
        line("slow.bin uploaded to 3331 thread")
    );
    assert!(yoda.events.is_empty(), "{:?}", yoda.events);
    assert_eq!(yoda.lines(Command::Lst), [text::THREAD_LIST, "3331"]);
}

#[test]
fn an_empty_file_uploads_and_downloads() {
    let s = TestServer::start();
    let (mut yoda, dy) = user_bin(&s, "yoda", "wise");
    let (mut hans, dh) = user_bin(&s, "hans", "indiana#jones");
    fs::write(dy.path().join("empty"), b"").unwrap();
    says(&mut yoda, "CRT 3331", &["Thread 3331 created"]);
    says(
        &mut yoda,
        "UPD 3331 empty",
        &["empty uploaded to 3331 thread"],
    );
    says(
        &mut hans,
        "DWN 3331 empty",
        &["empty successfully downloaded"],
    );
    assert_eq!(fs::read(dh.path().join("empty")).unwrap(), b"");
    assert_eq!(fs::read(s.path("uploads/3331/empty")).unwrap(), b"");
}

#[test]
fn a_thread_removed_or_recreated_mid_upload_gets_nothing() {
    let s = TestServer::start();
    let mut hans = Client::login(s.addr, "hans", "indiana#jones");
    let mut yoda = Client::login(s.addr, "yoda", "wise");
    let rmv = || Command::Rmv {
        title: "3331".into(),
    };
    for recreate in [false, true] {
        hans.lines(crt("3331"));
        let id = yoda.send(Command::Upd {
            title: "3331".into(),
            file: "f.bin".into(),
            size: 2000,
        });
        assert_eq!(yoda.wait(id).then, Then::SendData);
        yoda.send_frame(&[5; 1000]);
        assert_eq!(hans.lines(rmv()), line(text::THREAD_REMOVED));
        if recreate {
            hans.lines(crt("3331"));
        }
        yoda.send_frame(&[5; 1000]);
        yoda.send_frame(&[]);
        let r = yoda.wait(id);
        assert_eq!((r.ok, r.lines), (false, line("Thread 3331 does not exist")));
        assert!(!s.path("uploads/3331/f.bin").exists());
        assert!(starting_with(&s.path("uploads/3331"), ".").is_empty());
        if recreate {
            assert_eq!(thread_file(&s, "3331"), "hans\n");
            hans.lines(rmv());
        }
    }
    eventually("uploads/ to be empty", || {
        tree(&s.path("uploads")).is_empty()
    });
}

#[test]
fn threads_and_uploads_survive_a_restart() {
    let s = TestServer::start();
    let mut yoda = Client::login(s.addr, "yoda", "wise");
    yoda.lines(crt("3331"));
    yoda.lines(msg("3331", "before the restart"));
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    assert!(yoda.upload("3331", "f.bin", &data).ok);
    drop(yoda);
    let s = TestServer::in_dir(s.stop(), |_| {});
    let mut hans = Client::login(s.addr, "hans", "indiana#jones");
    let rdt = Command::Rdt {
        title: "3331".into(),
    };
    assert_eq!(
        hans.lines(rdt),
        ["1 yoda: before the restart", "yoda uploaded f.bin"]
    );
    assert!(hans.download("3331", "f.bin").unwrap() == data);
    let r = hans.upload("3331", "f.bin", b"again");
    assert_eq!(r.lines, line("Error. f.bin already exists in thread 3331"));
    assert_eq!(
        hans.lines(msg("3331", "after")),
        line("Message posted to 3331 thread")
    );
    assert_eq!(
        thread_file(&s, "3331"),
        "yoda\n1 yoda: before the restart\nyoda uploaded f.bin\n2 hans: after\n"
    );
}

/// Makes the stored copy of an uploaded file `size` bytes long (sparse), so a download
/// runs for a while without uploading that much first.
fn grow_stored_file(s: &TestServer, title: &str, file: &str, size: u64) {
    let f = fs::OpenOptions::new()
        .write(true)
        .open(s.path("uploads").join(title).join(file))
        .unwrap();
    f.set_len(size).unwrap();
}

#[test]
fn sht_during_a_download_reaches_the_downloader_and_leaves_no_file() {
    let s = forum_server();
    let (mut hans, dh) = user_bin(&s, "hans", "indiana#jones");
    let mut yoda = Client::login(s.addr, "yoda", "wise");
    yoda.lines(crt("3331"));
    assert!(yoda.upload("3331", "huge.bin", b"x").ok);
    grow_stored_file(&s, "3331", "huge.bin", 8 << 30);
    hans.send("DWN 3331 huge.bin");
    eventually("the download to start", || {
        !starting_with(dh.path(), ".huge.bin.part").is_empty()
    });
    yoda.send(Command::Sht {
        password: "destroyforum".into(),
    });
    hans.expect("Error. Download of huge.bin failed: the server interrupted the download");
    hans.expect(text::SHUTTING_DOWN);
    assert_eq!(hans.exit_code(), 0);
    assert!(tree(dh.path()).is_empty(), "{:?}", tree(dh.path()));
}

#[test]
fn sht_reaches_a_slow_downloader_of_the_real_server() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("credentials.txt"), common::CREDENTIALS).unwrap();
    let server = common::ServerProc::start(dir.path(), &["--admin-password", "pw"]);
    let mut yoda = Client::login(server.addr, "yoda", "wise");
    let mut hans = Client::login(server.addr, "hans", "indiana#jones");
    yoda.lines(crt("3331"));
    assert!(yoda.upload("3331", "f.bin", b"x").ok);
    let stored = dir.path().join("uploads/3331/f.bin");
    File::options()
        .write(true)
        .open(&stored)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let r = hans.call(Command::Dwn {
        title: "3331".into(),
        file: "f.bin".into(),
    });
    assert_eq!(r.then, Then::ReceiveData { size: 1 << 30 });
    hans.read_frame().unwrap();
    yoda.send(Command::Sht {
        password: "pw".into(),
    });
    // Hans reads slowly (far slower than the server's 3 s drain would allow for 1 GiB):
    // the frames stop early and the goodbye follows them before the connection closes.
    let mut frames = 0;
    while hans.read_frame().is_some() {
        frames += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(frames < (1 << 30) / (64 << 10), "the whole file was sent");
    assert!(
        hans.events
            .iter()
            .any(|e| matches!(e, Event::Bye { text: t, code: 0 } if t == text::SHUTTING_DOWN)),
        "{:?}",
        hans.events
    );
}
