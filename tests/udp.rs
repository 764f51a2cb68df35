//! Peer-to-peer file upload over UDP (BEHAVIOUR.md 3.4), through real `chinwag` binaries
//! in scripted mode, each in its own working directory: integrity with and without
//! injected loss, concurrent presenters, a vanishing audience, hostile names, the
//! refusals, and a presenter who keeps typing while an upload runs.
//!
//! Loss and pacing are injected with `CHINWAG_UDP_LOSS` on the spawned clients. The
//! transport is fast even unoptimised (50 MB in a few seconds in a debug build), so the
//! big transfers always use the full 50 MB.

mod common;

use common::{Bin, Client, TestServer};
use std::path::Path;
use std::time::{Duration, Instant};

const MB: usize = 1_000_000;
/// 5% loss with reordering and duplication, in both directions.
const LOSSY: &str = "drop=0.05,dup=0.02,reorder=0.05,seed=7";
/// How long a big transfer may take end to end before the test fails.
const TRANSFER_WAIT: Duration = Duration::from_secs(120);

/// The size of the big transfers.
const BIG: usize = 50 * MB;

/// A logged-in `chinwag` process with its own working directory.
struct Peer {
    bin: Bin,
    dir: tempfile::TempDir,
}

impl Peer {
    fn join(server: &TestServer, user: &str, pw: &str, loss: Option<&str>) -> Peer {
        let dir = tempfile::tempdir().unwrap();
        let env: Vec<(&str, &str)> = loss.map(|l| ("CHINWAG_UDP_LOSS", l)).into_iter().collect();
        let mut bin = Bin::connect_with_env(server.addr, dir.path(), &env);
        bin.login(user, pw);
        Peer { bin, dir }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `bytes` seeded pseudo-random bytes as `name`; returns them.
    fn file(&self, name: &str, bytes: usize, seed: u64) -> Vec<u8> {
        let data = random_bytes(bytes, seed);
        std::fs::write(self.path(name), &data).unwrap();
        data
    }

    /// Waits up to `within` for a line containing `want`.
    fn wait_for(&mut self, want: &str, within: Duration) -> String {
        match self.bin.try_expect(want, within) {
            Some(line) => line,
            None => panic!("no {want:?} within {within:?}; saw {:?}", self.bin.seen),
        }
    }

    /// Names in the working directory, sorted.
    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// The file at `path` holds exactly `want` (no multi-megabyte diff on failure).
fn assert_same(path: &Path, want: &[u8]) {
    let got = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(got.len(), want.len(), "{}: size differs", path.display());
    assert!(got == want, "{}: contents differ", path.display());
}

/// yoda uploads a big random file to hans with `loss` on both clients.
fn upload_arrives_intact(loss: Option<&str>) {
    let server = TestServer::start();
    let mut hans = Peer::join(&server, "hans", "indiana#jones", loss);
    let mut yoda = Peer::join(&server, "yoda", "wise", loss);
    let data = yoda.file("f.bin", BIG, 1);
    yoda.bin.send("UDP hans f.bin");
    hans.wait_for("Received f.bin from yoda", TRANSFER_WAIT);
    yoda.wait_for("f.bin has been uploaded", TRANSFER_WAIT);
    assert_same(&hans.path("yoda_f.bin"), &data);
    assert_eq!(
        hans.files(),
        vec!["yoda_f.bin".to_string()],
        "temp files left"
    );
    assert!(
        !yoda.bin.seen.iter().any(|l| l.contains("Error")),
        "{:?}",
        yoda.bin.seen
    );
}

#[test]
fn fifty_mb_file_arrives_byte_identical_without_loss() {
    upload_arrives_intact(None);
}

#[test]
fn fifty_mb_file_arrives_byte_identical_with_loss_reordering_and_duplication() {
    upload_arrives_intact(Some(LOSSY));
}

#[test]
fn two_presenters_to_one_audience_at_once() {
    let server = TestServer::start();
    let mut hans = Peer::join(&server, "hans", "indiana#jones", None);
    let mut yoda = Peer::join(&server, "yoda", "wise", None);
    let mut luke = Peer::join(&server, "luke", "lightsaber@#", None);
    let from_yoda = yoda.file("f.bin", 8 * MB, 2);
    let from_luke = luke.file("f.bin", 8 * MB, 3);
    yoda.bin.send("UDP hans f.bin");
    luke.bin.send("UDP hans f.bin");
    hans.wait_for("Received f.bin from", TRANSFER_WAIT);
    hans.wait_for("Received f.bin from", TRANSFER_WAIT);
    yoda.wait_for("f.bin has been uploaded", TRANSFER_WAIT);
    luke.wait_for("f.bin has been uploaded", TRANSFER_WAIT);
    for who in ["yoda", "luke"] {
        let line = format!("Received f.bin from {who}");
        assert!(hans.bin.seen.contains(&line), "{:?}", hans.bin.seen);
    }
    assert_same(&hans.path("yoda_f.bin"), &from_yoda);
    assert_same(&hans.path("luke_f.bin"), &from_luke);
    assert_eq!(hans.files(), vec!["luke_f.bin", "yoda_f.bin"]);
}

#[test]
fn one_presenter_to_two_audiences_at_once() {
    let server = TestServer::start();
    let mut hans = Peer::join(&server, "hans", "indiana#jones", None);
    let mut luke = Peer::join(&server, "luke", "lightsaber@#", None);
    let mut yoda = Peer::join(&server, "yoda", "wise", None);
    let data = yoda.file("talk.bin", 4 * MB, 4);
    yoda.bin.send("UDP hans talk.bin");
    yoda.bin.send("UDP luke talk.bin");
    for aud in [&mut hans, &mut luke] {
        aud.wait_for("Received talk.bin from yoda", TRANSFER_WAIT);
        assert_same(&aud.path("yoda_talk.bin"), &data);
    }
    yoda.wait_for("talk.bin has been uploaded", TRANSFER_WAIT);
    yoda.wait_for("talk.bin has been uploaded", TRANSFER_WAIT);
}

#[test]
fn audience_killed_mid_transfer_fails_cleanly_and_presenter_carries_on() {
    let server = TestServer::start();
    let mut hans = Peer::join(&server, "hans", "indiana#jones", None);
    // Paced at 2 MB/s, so the 20 MB upload is still running when hans dies.
    let mut yoda = Peer::join(&server, "yoda", "wise", Some("rate=2"));
    yoda.file("f.bin", 20 * MB, 5);
    yoda.bin.send("UDP hans f.bin");
    let deadline = Instant::now() + Duration::from_secs(10);
    let started = loop {
        let part = std::fs::read_dir(hans.dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().contains("part"));
        if part.is_some_and(|e| e.metadata().is_ok_and(|m| m.len() >= MB as u64)) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(started, "no data arrived; yoda saw {:?}", yoda.bin.seen);
    hans.bin.kill(); // SIGKILL: no goodbye on any socket
    let line = yoda.wait_for(
        "Error. Upload of f.bin to hans failed: ",
        Duration::from_secs(20),
    );
    let reason = &line["Error. Upload of f.bin to hans failed: ".len()..];
    // Its port answers "unreachable" at once; silence would take the full timeout.
    assert!(
        ["peer gone (port unreachable)", "peer not responding"].contains(&reason),
        "{line}"
    );
    assert!(!yoda
        .bin
        .seen
        .iter()
        .any(|l| l.contains("has been uploaded")));
    assert!(!hans.path("yoda_f.bin").exists());
    // The presenter's client is still fully usable.
    yoda.bin.send("whoelse");
    yoda.bin.expect_line("No other users online");
}

#[test]
fn presenter_keeps_typing_while_the_upload_runs() {
    let server = TestServer::start();
    let mut hans = Peer::join(&server, "hans", "indiana#jones", None);
    // Paced to 1.5 MB/s, the upload lasts 1 s: the two commands are answered long before.
    let mut yoda = Peer::join(&server, "yoda", "wise", Some("rate=1.5"));
    let data = yoda.file("f.bin", 3 * MB / 2, 6);
    yoda.bin.send("UDP hans f.bin");
    yoda.bin.send("whoelse");
    yoda.bin.expect_line("hans");
    yoda.bin.send("message hans still here");
    hans.bin.expect_line("yoda: still here");
    assert!(
        !yoda
            .bin
            .seen
            .iter()
            .any(|l| l.contains("has been uploaded")),
        "the upload finished before the commands were answered: {:?}",
        yoda.bin.seen
    );
    yoda.wait_for("f.bin has been uploaded", TRANSFER_WAIT);
    hans.wait_for("Received f.bin from yoda", TRANSFER_WAIT);
    assert_same(&hans.path("yoda_f.bin"), &data);
}

#[test]
fn refusals_name_the_problem() {
    let server = TestServer::start();
    let mut yoda = Peer::join(&server, "yoda", "wise", None);
    yoda.file("f.bin", 1000, 7);
    yoda.bin.send("UDP hans x");
    yoda.bin.expect_line("Error. x does not exist");
    yoda.bin.send("UDP hans f.bin");
    yoda.bin.expect_line("Error. hans is offline");
    yoda.bin.send("UDP nobody f.bin");
    yoda.bin.expect_line("Error. Invalid user");
    yoda.bin.send("UDP yoda f.bin");
    yoda.bin.expect_line("Error. Cannot upload to self");
    assert_eq!(yoda.files(), vec!["f.bin"]);
}

#[test]
fn hostile_file_names_are_refused_by_the_client() {
    let server = TestServer::start();
    let hans = Peer::join(&server, "hans", "indiana#jones", None);
    let mut yoda = Peer::join(&server, "yoda", "wise", None);
    std::fs::write(hans.path("secret"), "x").unwrap();
    for name in ["../secret", ".hidden", "..", "a\\b", "/etc/passwd"] {
        yoda.bin.send(&format!("UDP hans {name}"));
        yoda.bin
            .expect_line(&chinwag::text::invalid_file_name(name));
    }
    yoda.bin.send("whoelse");
    yoda.bin.expect_line("hans");
    assert!(!hans.bin.seen.iter().any(|l| l.contains("Received")));
    assert_eq!(hans.files(), vec!["secret"]);
}

#[test]
fn hostile_file_names_are_refused_by_the_server() {
    let server = TestServer::start();
    let mut yoda = Client::login(server.addr, "yoda", "wise");
    let mut hans = Client::login(server.addr, "hans", "indiana#jones");
    for name in ["../x", "a/b", ".hidden", "..", "x\0y", "a b", "a\\b", ""] {
        let r = yoda.call(chinwag::protocol::Command::Udp {
            user: "hans".into(),
            file: name.into(),
        });
        assert!(!r.ok, "{name:?}: {r:?}");
        assert_eq!(
            r.lines,
            vec![chinwag::text::invalid_file_name(name)],
            "{name:?}"
        );
        assert_eq!(r.then, chinwag::protocol::Then::Continue, "{name:?}");
    }
    hans.quiet_for(Duration::from_millis(300));
}
