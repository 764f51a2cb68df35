//! End-to-end tests of the transfer module over loopback: integrity with and
//! without injected loss, concurrency, peer disappearance, hostile names,
//! token handling and checksum failure. Every blocking wait has a timeout.

use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver as Chan, RecvTimeoutError};

use super::test_files::{random_file, same_contents, temp_dir, TempDir};
use super::wire::{self, Packet};
use super::*;

pub(super) const MB: u64 = 1_000_000;
const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

pub(super) struct Audience {
    pub recv: Receiver,
    pub events: Chan<RecvEvent>,
    pub dir: PathBuf,
    _tmp: TempDir,
}

impl Audience {
    pub fn new(loss: LossConfig) -> Audience {
        Audience::start(|dir, tx| Receiver::bind(LOOPBACK, dir, loss, tx))
    }
    /// No loss; a presenter silent for `peer_timeout` is gone.
    pub fn timing_out(peer_timeout: Duration) -> Audience {
        Audience::start(|dir, tx| Receiver::bind_timing_out(LOOPBACK, dir, tx, peer_timeout))
    }
    fn start(
        bind: impl FnOnce(PathBuf, crossbeam_channel::Sender<RecvEvent>) -> std::io::Result<Receiver>,
    ) -> Audience {
        let tmp = temp_dir("test-dst").unwrap();
        let (tx, events) = crossbeam_channel::unbounded();
        let dir = tmp.path().to_path_buf();
        let recv = bind(dir.clone(), tx).unwrap();
        Audience {
            recv,
            events,
            dir,
            _tmp: tmp,
        }
    }
    pub fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.recv.local_port()).into()
    }
    pub fn event(&self, secs: u64) -> RecvEvent {
        self.events
            .recv_timeout(Duration::from_secs(secs))
            .expect("receiver event")
    }
    pub fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

pub(super) fn source(tmp: &TempDir, name: &str, bytes: u64, seed: u64) -> PathBuf {
    let p = tmp.path().join(name);
    random_file(&p, bytes, seed).unwrap();
    p
}

fn transfer_ok(loss: LossConfig, bytes: u64) {
    let src_dir = temp_dir("test-src").unwrap();
    let src = source(&src_dir, "talk.bin", bytes, 1);
    let aud = Audience::new(loss);
    aud.recv.expect("tok-1", "alice", "talk.bin");
    let mut last = (0, 0);
    let n = send_file(aud.addr(), "tok-1", &src, &loss, &mut |a, t| last = (a, t)).unwrap();
    assert_eq!(n, bytes);
    assert_eq!(last, (bytes, bytes));
    match aud.event(10) {
        RecvEvent::Received {
            from,
            file,
            saved_as,
        } => {
            assert_eq!((from.as_str(), file.as_str()), ("alice", "talk.bin"));
            assert_eq!(saved_as, aud.dir.join("alice_talk.bin"));
            assert!(same_contents(&src, &saved_as).unwrap());
        }
        e => panic!("unexpected {e:?}"),
    }
    assert_eq!(aud.files(), vec!["alice_talk.bin".to_string()]);
}

/// 20 MB here (tests/udp.rs sends 50 MB between the real binaries, with and without loss).
#[test]
fn twenty_mb_no_loss() {
    transfer_ok(LossConfig::default(), 20 * MB);
}

#[test]
fn twenty_mb_with_loss_dup_reorder() {
    let loss = LossConfig {
        drop: 0.05,
        duplicate: 0.02,
        reorder: 0.05,
        seed: 7,
    };
    transfer_ok(loss, 20 * MB);
}

#[test]
fn small_and_empty_files() {
    for bytes in [0, 1, CHUNK as u64, CHUNK as u64 + 1] {
        transfer_ok(LossConfig::default(), bytes);
    }
}

#[test]
fn two_presenters_one_audience() {
    let src_dir = temp_dir("test-src").unwrap();
    let a = source(&src_dir, "a.bin", 8 * MB, 2);
    let b = source(&src_dir, "b.bin", 8 * MB, 3);
    let aud = Audience::new(LossConfig::default());
    aud.recv.expect("ta", "ann", "a.bin");
    aud.recv.expect("tb", "bob", "b.bin");
    let dest = aud.addr();
    let off = LossConfig::default();
    let (a2, b2) = (a.clone(), b.clone());
    let ja = std::thread::spawn(move || {
        send_file(dest, "ta", &a2, &off, &mut |_, _| {}).map_err(|e| e.to_string())
    });
    let jb = std::thread::spawn(move || {
        send_file(dest, "tb", &b2, &off, &mut |_, _| {}).map_err(|e| e.to_string())
    });
    assert_eq!(ja.join().unwrap(), Ok(8 * MB));
    assert_eq!(jb.join().unwrap(), Ok(8 * MB));
    for _ in 0..2 {
        assert!(matches!(aud.event(10), RecvEvent::Received { .. }));
    }
    assert!(same_contents(&a, &aud.dir.join("ann_a.bin")).unwrap());
    assert!(same_contents(&b, &aud.dir.join("bob_b.bin")).unwrap());
}

#[test]
fn one_presenter_two_audiences() {
    let src_dir = temp_dir("test-src").unwrap();
    let src = source(&src_dir, "s.bin", 4 * MB, 4);
    let auds = [
        Audience::new(LossConfig::default()),
        Audience::new(LossConfig::default()),
    ];
    let handles: Vec<_> = auds
        .iter()
        .map(|aud| {
            aud.recv.expect("same-token", "pat", "s.bin");
            let (dest, src) = (aud.addr(), src.clone());
            std::thread::spawn(move || {
                send_file(
                    dest,
                    "same-token",
                    &src,
                    &LossConfig::default(),
                    &mut |_, _| {},
                )
                .map_err(|e| e.to_string())
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Ok(4 * MB));
    }
    for aud in &auds {
        assert!(matches!(aud.event(10), RecvEvent::Received { .. }));
        assert!(same_contents(&src, &aud.dir.join("pat_s.bin")).unwrap());
    }
}

#[test]
fn audience_vanishing_mid_transfer() {
    let src_dir = temp_dir("test-src").unwrap();
    let src = source(&src_dir, "big.bin", 50 * MB, 5);
    let aud = Audience::new(LossConfig::default());
    aud.recv.expect("tv", "vic", "big.bin");
    let (dest, dir) = (aud.addr(), aud.dir.clone());
    let (ptx, prx) = crossbeam_channel::unbounded();
    let t0 = Instant::now();
    let h = std::thread::spawn(move || {
        let r = send_file(dest, "tv", &src, &LossConfig::default(), &mut |a, _| {
            let _ = ptx.send(a);
        });
        (r.map_err(|e| e.to_string()), Instant::now())
    });
    // Wait until some data has been acknowledged, then vanish.
    loop {
        match prx.recv_timeout(Duration::from_secs(10)) {
            Ok(a) if a >= 2 * MB => break,
            Ok(_) => {}
            Err(e) => panic!("no progress: {e:?}"),
        }
    }
    let Audience { recv, _tmp, .. } = aud;
    recv.shutdown();
    let deadline = Instant::now() + Duration::from_secs(12);
    while !h.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(h.is_finished(), "send_file did not give up");
    let (r, done) = h.join().unwrap();
    assert!(r.is_err(), "{r:?}");
    assert!(done - t0 < Duration::from_secs(15));
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "left files behind");
}

#[test]
fn unknown_token_gets_no_file() {
    let src_dir = temp_dir("test-src").unwrap();
    let src = source(&src_dir, "x.bin", 10_000, 6);
    let aud = Audience::new(LossConfig::default());
    aud.recv.expect("right", "eve", "x.bin");
    let t0 = Instant::now();
    let r = send_file_timing_out(aud.addr(), "wrong", &src, SHORT_TIMEOUT);
    assert!(matches!(r, Err(TransferError::PeerNotResponding)), "{r:?}");
    assert!(t0.elapsed() < Duration::from_secs(8));
    assert!(aud.files().is_empty());
    assert_eq!(
        aud.events.try_recv(),
        Err(crossbeam_channel::TryRecvError::Empty)
    );
}

/// The peer timeout of tests that wait for it (5 s in the client).
pub(super) const SHORT_TIMEOUT: Duration = Duration::from_millis(400);

/// A raw protocol client for poking the receiver directly.
pub(super) fn raw_client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s
}

pub(super) fn raw_start(
    s: &UdpSocket,
    to: SocketAddr,
    token: &str,
    name: &str,
    size: u64,
) -> Option<Vec<u8>> {
    let mut b = Vec::new();
    wire::start(&mut b, 77, size, CHUNK as u16, token, name);
    s.send_to(&b, to).unwrap();
    let mut r = vec![0; 2048];
    s.recv_from(&mut r).ok().map(|(n, _)| r[..n].to_vec())
}

#[test]
fn token_is_single_use() {
    transfer_ok(LossConfig::default(), 1000);
    let aud = Audience::new(LossConfig::default());
    aud.recv.expect("once", "amy", "f.txt");
    let (c1, c2) = (raw_client(), raw_client());
    let first = raw_start(&c1, aud.addr(), "once", "f.txt", 10).expect("start ack");
    assert!(matches!(
        wire::parse(&first),
        Some(Packet::StartAck { sid: 77, .. })
    ));
    assert_eq!(raw_start(&c2, aud.addr(), "once", "f.txt", 10), None);
    assert_eq!(raw_start(&c2, aud.addr(), "nope", "f.txt", 10), None);
}

#[test]
fn hostile_names_refused_on_both_sides() {
    let hostile = ["../x", "a/b", ".hidden", "x\0y", "", "a b", "a\\b"];
    for n in hostile {
        assert!(!valid_file_name(n), "{n:?}");
    }
    assert!(valid_file_name("notes-v2_(final).txt"));
    assert!(!valid_file_name(&"x".repeat(129)));
    // Sender side.
    let src_dir = temp_dir("test-src").unwrap();
    let hidden = source(&src_dir, ".hidden", 10, 7);
    let dest: SocketAddr = "127.0.0.1:9".parse().unwrap();
    for p in [hidden.as_path(), Path::new("")] {
        let r = send_file(dest, "t", p, &LossConfig::default(), &mut |_, _| {});
        assert!(matches!(r, Err(TransferError::InvalidName(_))), "{r:?}");
    }
    // Receiver side: registration refused, and a START naming them is ignored.
    let aud = Audience::new(LossConfig::default());
    for (i, n) in hostile.iter().enumerate() {
        aud.recv.expect(&format!("h{i}"), "mallory", n);
        assert!(matches!(aud.event(2), RecvEvent::Failed { .. }));
    }
    // Each probe waits out a silence: they run side by side.
    let to = aud.addr();
    std::thread::scope(|s| {
        for (i, n) in hostile.iter().enumerate() {
            s.spawn(move || {
                let tok = format!("h{i}");
                assert_eq!(raw_start(&raw_client(), to, &tok, n, 10), None, "{n:?}");
            });
        }
    });
    let c = raw_client();
    aud.recv.expect("hu", "../up", "ok.txt");
    assert!(matches!(aud.event(2), RecvEvent::Failed { .. }));
    // Valid registration, hostile name in START: refused with ABORT.
    aud.recv.expect("hv", "mallory", "ok.txt");
    let reply = raw_start(&c, aud.addr(), "hv", "../x", 10).expect("abort");
    assert!(matches!(
        wire::parse(&reply),
        Some(Packet::Abort {
            code: wire::ABORT_REFUSED,
            ..
        })
    ));
    assert!(aud.files().is_empty());
    assert!(!aud.dir.parent().unwrap().join("x").exists());
}

#[test]
fn checksum_mismatch_leaves_no_file() {
    let aud = Audience::new(LossConfig::default());
    aud.recv.expect("tc", "carl", "c.txt");
    let c = raw_client();
    let reply = raw_start(&c, aud.addr(), "tc", "c.txt", 5).expect("start ack");
    assert!(matches!(wire::parse(&reply), Some(Packet::StartAck { .. })));
    let mut d = vec![0; wire::DATA_HEADER];
    wire::data_header(&mut d, 77, 0, 1);
    d.extend_from_slice(b"hello");
    c.send_to(&d, aud.addr()).unwrap();
    let mut fin = Vec::new();
    wire::fin(&mut fin, 77, &[0; 32]);
    let mut r = vec![0; 2048];
    let deadline = Instant::now() + Duration::from_secs(3);
    let code = loop {
        assert!(Instant::now() < deadline, "no abort");
        c.send_to(&fin, aud.addr()).unwrap();
        if let Ok((n, _)) = c.recv_from(&mut r) {
            if let Some(Packet::Abort { code, .. }) = wire::parse(&r[..n]) {
                break code;
            }
        }
    };
    assert_eq!(code, wire::ABORT_CHECKSUM);
    assert!(
        matches!(aud.event(2), RecvEvent::Failed { ref reason, .. } if reason == "checksum mismatch")
    );
    assert!(aud.files().is_empty());
    assert_eq!(
        aud.events.recv_timeout(Duration::from_millis(100)),
        Err(RecvTimeoutError::Timeout)
    );
}

/// `send_file` with no loss, the peer gone after `peer_timeout` of silence (tests).
pub(super) fn send_file_timing_out(
    dest: SocketAddr,
    token: &str,
    path: &Path,
    peer_timeout: std::time::Duration,
) -> Result<u64, TransferError> {
    let loss = LossConfig::default();
    super::sender::send(
        dest,
        token,
        path,
        &loss,
        None,
        Some(peer_timeout),
        &mut |_, _| {},
    )
}
