//! The real binaries as a user runs them: argument validation, the scripted client, and
//! the server process itself (its listening line, SIGTERM, SHT).

mod common;

use common::{Bin, ServerProc, TestServer};
use std::process::{Command, Stdio};

fn server_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chinwag-server"))
}

#[test]
fn bad_attempts_prints_the_assignment_message() {
    for bad in ["6", "0", "2.5"] {
        let out = server_bin().args(["5000", bad]).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim(),
            format!("Invalid number of allowed failed consecutive attempt: {bad}. The valid value of argument number is an integer between 1 and 5")
        );
    }
}

#[test]
fn bad_arguments_give_one_line_and_no_panic() {
    for args in [
        vec!["notaport"],
        vec![],
        vec!["5000", "60", "soon"],
        vec!["5000", "--max-clients", "x"],
    ] {
        let out = server_bin().args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn help_documents_the_options_and_short_forms() {
    let out = server_bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--attempts",
        "--block-duration",
        "--timeout",
        "--admin-password",
        "--signup",
        "--no-signup",
        "--data-dir",
        "--credentials",
        "--bind",
        "--max-clients",
        "--quiet",
        "--debug",
        "PORT ADMIN_PASSWORD",
    ] {
        assert!(help.contains(opt), "missing {opt}");
    }
}

#[test]
fn malformed_credentials_stop_the_server_with_the_line_number() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("credentials.txt"),
        "yoda wise\nbroken line here\n",
    )
    .unwrap();
    let out = server_bin()
        .args(["0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn client_reports_an_unreachable_server() {
    // Bound but not listening, for as long as the test runs: connecting is refused, and
    // no other test's server can take the port meanwhile (a freed port can be).
    let held = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    held.bind(&any.into()).unwrap();
    let port = held.local_addr().unwrap().as_socket().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_chinwag"))
        .args(["127.0.0.1", &port.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("Error. Cannot connect to 127.0.0.1:{port}: ")),
        "{text}"
    );
}

#[test]
fn scripted_client_logs_in_chats_and_exits_zero() {
    let s = TestServer::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut yoda = Bin::connect(s.addr, da.path());
    yoda.login("yoda", "wise");
    let mut hans = Bin::connect(s.addr, db.path());
    hans.login("hans", "indiana#jones");
    yoda.expect("hans logged in");
    yoda.send("whatsthetime");
    yoda.expect("Error. Invalid command");
    yoda.send("message hans Hey Dude");
    hans.expect("yoda: Hey Dude");
    yoda.send("message hans");
    yoda.expect("Error. Usage: message <user> <message>");
    hans.send("logout");
    hans.expect("Goodbye, hans!");
    assert_eq!(hans.exit_code(), 0);
    yoda.expect("hans logged out");
    yoda.close_stdin();
    yoda.expect("Goodbye, yoda!");
    assert_eq!(yoda.exit_code(), 0);
}

#[test]
fn scripted_failed_login_exits_non_zero() {
    let s = TestServer::with(|c| c.attempts = 1);
    let dir = tempfile::tempdir().unwrap();
    let mut c = Bin::connect(s.addr, dir.path());
    c.expect("Username:");
    c.send("yoda");
    c.send("nope");
    c.expect(chinwag::text::INVALID_PASSWORD_BLOCKED);
    assert_eq!(c.exit_code(), 1);
}

/// The real server binary on a free port in `dir`, with the bundled credentials.
fn spawn_server(dir: &std::path::Path, extra: &[&str]) -> ServerProc {
    std::fs::write(dir.join("credentials.txt"), common::CREDENTIALS).unwrap();
    ServerProc::start(dir, extra)
}

#[test]
fn sigterm_says_goodbye_to_clients_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn_server(dir.path(), &[]);
    let mut c = Bin::connect(server.addr, dir.path());
    c.login("yoda", "wise");
    server.signal("-TERM");
    c.expect("Goodbye. Server shutting down");
    assert_eq!(c.exit_code(), 0);
    let status = server.wait();
    assert!(status.success(), "{status:?}");
}

#[test]
fn sht_with_the_forum_form_wipes_threads_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn_server(dir.path(), &["destroyforum"]);
    let addr = server.addr;
    let mut a = Bin::connect(addr, dir.path());
    a.login("yoda", "wise");
    let mut b = Bin::connect(addr, dir.path());
    b.login("hans", "indiana#jones");
    a.send("CRT 3331");
    a.expect("Thread 3331 created");
    a.send("SHT monkey");
    a.expect("Incorrect password");
    a.send("SHT destroyforum");
    a.expect("Goodbye. Server shutting down");
    b.expect("Goodbye. Server shutting down");
    assert_eq!(a.exit_code(), 0);
    assert_eq!(b.exit_code(), 0);
    assert!(server.wait().success());
    assert!(!dir.path().join("threads/3331").exists());
    assert!(dir.path().join("credentials.txt").exists());
}
