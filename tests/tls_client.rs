//! `chinwag --tls` (BEHAVIOUR §8), the real client against the real server: trust on
//! first use with known_servers (XDG_CONFIG_HOME in a scratch directory), a changed
//! certificate, `--fingerprint`, `--ca`, the question on a terminal, and a recording
//! relay that finds neither the password nor the message.

mod common;
mod tls_support;

use chinwag::protocol::{Event, ServerMsg};
use common::{password, Bin, ServerProc, CREDENTIALS};
use std::path::Path;
use std::process::Command as Proc;
use tls_support::{printed_fingerprint, Relay};

struct Setup {
    dir: tempfile::TempDir,
    server: ServerProc,
    fp: String,
}

fn setup(args: &[&str]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("credentials.txt"), CREDENTIALS).unwrap();
    let server = ServerProc::start(dir.path(), args);
    let fp = printed_fingerprint(&server);
    Setup { dir, server, fp }
}

impl Setup {
    /// The client with `args` before the address, its config home in the data directory.
    fn client(&self, args: &[&str], host: &str, port: u16) -> Bin {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend([host.to_string(), port.to_string()]);
        let home = self.dir.path().join("config");
        Bin::start_with_env(
            &all,
            self.dir.path(),
            &[("XDG_CONFIG_HOME", home.to_str().unwrap())],
        )
    }

    fn known(&self) -> std::path::PathBuf {
        self.dir.path().join("config/chinwag/known_servers")
    }

    fn port(&self) -> u16 {
        self.server.addr.port()
    }
}

#[test]
fn scripted_first_use_is_refused_unless_trust_new_which_remembers() {
    let s = setup(&["--tls"]);
    let mut c = s.client(&["--tls"], "127.0.0.1", s.port());
    c.expect_line(&format!(
        "Error. Unknown server certificate {}: pass --fingerprint or --trust-new",
        s.fp
    ));
    assert_ne!(c.exit_code(), 0);
    assert!(!s.known().exists(), "nothing remembered");

    let mut c = s.client(&["--tls", "--trust-new"], "127.0.0.1", s.port());
    c.login("hans", password("hans"));
    c.send("logout");
    assert_eq!(c.exit_code(), 0);
    let known = std::fs::read_to_string(s.known()).unwrap();
    assert_eq!(known, format!("127.0.0.1:{} {}\n", s.port(), s.fp));

    // Known now: no --trust-new needed.
    let mut c = s.client(&["--tls"], "127.0.0.1", s.port());
    c.login("yoda", password("yoda"));
}

#[test]
fn a_changed_certificate_is_always_refused_naming_both_and_the_line() {
    let s = setup(&["--tls"]);
    let old = format!("SHA256:{}", "0f".repeat(32));
    std::fs::create_dir_all(s.known().parent().unwrap()).unwrap();
    let lines = format!("10.0.0.9:5000 {}\n127.0.0.1:{} {old}\n", s.fp, s.port());
    std::fs::write(s.known(), &lines).unwrap();
    let mut c = s.client(&["--tls", "--trust-new"], "127.0.0.1", s.port());
    let line = c.expect("Error.");
    let want = format!(
        "Error. The server's certificate changed: known_servers has {old}, the server sent {}. If the change is expected, remove line 2 of {}",
        s.fp,
        s.known().display()
    );
    assert_eq!(line.trim(), want);
    assert_ne!(c.exit_code(), 0);
    assert_eq!(
        std::fs::read_to_string(s.known()).unwrap(),
        lines,
        "unchanged"
    );
}

#[test]
fn fingerprint_pins_and_ca_verifies_the_name() {
    let s = setup(&["--tls-required"]);
    let mut c = s.client(&["--tls", "--fingerprint", &s.fp], "127.0.0.1", s.port());
    c.login("luke", password("luke"));

    let other = format!("SHA256:{}", "ab".repeat(32));
    let mut c = s.client(&["--fingerprint", &other], "127.0.0.1", s.port());
    c.expect_line(&format!(
        "Error. The server's certificate is {}, not {other}",
        s.fp
    ));
    assert_ne!(c.exit_code(), 0);

    // The certificate the server made names localhost.
    let cert = s.dir.path().join("tls/cert.pem");
    let cert = cert.to_str().unwrap();
    let mut c = s.client(&["--tls", "--ca", cert], "localhost", s.port());
    c.login("leia", password("leia"));
    let mut c = s.client(&["--tls", "--ca", cert], "127.0.0.1", s.port());
    let line = c.expect("Error.");
    assert!(line.contains("TLS with 127.0.0.1"), "{line}");
    assert_ne!(c.exit_code(), 0);

    // A plain client is told to use TLS.
    let mut c = s.client(&[], "127.0.0.1", s.port());
    c.expect_line("Error. This server requires TLS: connect with chinwag --tls");
    assert_ne!(c.exit_code(), 0);
}

/// A full server tells a TLS client so inside TLS (not a broken handshake), and a plain
/// client beside it in plain.
#[test]
fn a_full_server_refuses_tls_and_plain_clients_with_the_line() {
    let s = setup(&["--tls", "--max-clients", "1"]);
    let mut c = s.client(&["--tls", "--fingerprint", &s.fp], "127.0.0.1", s.port());
    c.login("luke", password("luke"));

    let mut raw = tls_support::TlsClient::connect(s.server.addr, &s.fp).unwrap();
    match raw.read() {
        Some(ServerMsg::Event(Event::Bye { text, code })) => {
            assert_eq!(text, "Error. Server is full, try again later");
            assert_eq!(code, 1);
        }
        other => panic!("expected the refusal over TLS, got {other:?}"),
    }
    assert!(raw.read().is_none(), "and the TLS session is closed");

    let mut tls = s.client(&["--tls", "--fingerprint", &s.fp], "127.0.0.1", s.port());
    tls.expect_line("Error. Server is full, try again later");
    assert_ne!(tls.exit_code(), 0);
    let mut plain = s.client(&[], "127.0.0.1", s.port());
    plain.expect_line("Error. Server is full, try again later");
    assert_ne!(plain.exit_code(), 0);
}

#[test]
fn the_real_client_through_a_relay_shows_no_password_and_no_message() {
    let s = setup(&["--tls"]);
    let relay = Relay::start(s.server.addr);
    let mut hans = s.client(&["--fingerprint", &s.fp], "127.0.0.1", relay.addr.port());
    hans.login("hans", password("hans"));
    let mut yoda = s.client(&["--fingerprint", &s.fp], "127.0.0.1", s.port());
    yoda.login("yoda", password("yoda"));
    hans.send("message yoda meet me at the cantina at noon");
    yoda.expect("hans: meet me at the cantina at noon");
    yoda.send("message hans the answer travels back encrypted");
    hans.expect("yoda: the answer travels back encrypted");
    assert!(!relay.seen.lock().is_empty());
    assert!(!relay.saw(password("hans")));
    assert!(!relay.saw("cantina") && !relay.saw("encrypted"));
}

/// On a terminal (a pty, through Python's pty module) the client shows the fingerprint
/// and asks; `y` trusts and remembers it, anything else refuses.
#[test]
fn on_a_terminal_the_client_asks_before_trusting() {
    let s = setup(&["--tls"]);
    let home = s.dir.path().join("config");
    let script = r#"
import os, pty, sys, time
answer = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
out, deadline = b"", time.time() + 10
def until(want):
    global out
    while want not in out and time.time() < deadline:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    return want in out
ok = until(b"Trust this server? [y/N] ")
os.write(fd, (answer + "\r").encode())
until(b"Username: " if answer == "y" else b"Error.")
os.kill(pid, 9)
sys.stdout.write(out.decode(errors="replace"))
"#;
    for answer in ["y", "n"] {
        let out = Proc::new("python3")
            .args(["-c", script, answer, env!("CARGO_BIN_EXE_chinwag"), "--tls"])
            .args(["127.0.0.1", &s.port().to_string()])
            .env("XDG_CONFIG_HOME", &home)
            .current_dir(s.dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(text.contains(&s.fp), "{text}");
        assert!(text.contains("Trust this server? [y/N] "), "{text}");
        if answer == "y" {
            assert!(text.contains("Username: "), "{text}");
            assert!(known(&home).contains(&s.fp));
            std::fs::remove_file(home.join("chinwag/known_servers")).unwrap();
        } else {
            assert!(text.contains("Error. Unknown server certificate"), "{text}");
            assert!(!home.join("chinwag/known_servers").exists());
        }
    }
}

fn known(home: &Path) -> String {
    std::fs::read_to_string(home.join("chinwag/known_servers")).unwrap_or_default()
}
