//! How transfers fail: a silent audience or presenter times out and cleans up, a closed
//! port fails fast, a file that changes while it is sent is detected.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::test_files::temp_dir;
use super::tests::*;
use super::wire::{self, Packet};
use super::*;

#[test]
fn silent_audience_times_out() {
    // A fake audience that accepts START and then never answers again.
    let fake = raw_client();
    fake.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let dest = fake.local_addr().unwrap();
    let src_dir = temp_dir("test-src").unwrap();
    let src = source(&src_dir, "s.bin", 2 * MB, 8);
    let h = std::thread::spawn(move || {
        let t0 = Instant::now();
        let r = send_file_timing_out(dest, "t", &src, SHORT_TIMEOUT);
        (r, t0.elapsed())
    });
    let mut b = vec![0; 2048];
    let (n, peer) = fake.recv_from(&mut b).expect("START");
    let Some(Packet::Start { sid, .. }) = wire::parse(&b[..n]) else {
        panic!("not START")
    };
    let mut ack = Vec::new();
    wire::start_ack(&mut ack, sid, WINDOW as u32);
    fake.send_to(&ack, peer).unwrap();
    let (r, took) = h.join().unwrap();
    assert!(matches!(r, Err(TransferError::PeerNotResponding)), "{r:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn silent_presenter_times_out_and_cleans_up() {
    let aud = Audience::timing_out(SHORT_TIMEOUT);
    aud.recv.expect("tp", "pam", "p.bin");
    let c = raw_client();
    let reply = raw_start(&c, aud.addr(), "tp", "p.bin", 10 * MB).expect("start ack");
    assert!(matches!(wire::parse(&reply), Some(Packet::StartAck { .. })));
    let mut d = vec![0; wire::DATA_HEADER + CHUNK];
    wire::data_header(&mut d, 77, 0, 1);
    c.send_to(&d, aud.addr()).unwrap();
    match aud.event(9) {
        RecvEvent::Failed { reason, .. } => assert_eq!(reason, "peer not responding"),
        e => panic!("unexpected {e:?}"),
    }
    assert!(aud.files().is_empty());
}

#[test]
fn closed_port_fails_fast_as_peer_gone() {
    // Nobody listens on this port any more: the kernel answers with ICMP port
    // unreachable, so the sender need not wait out the full silence timeout.
    let port = raw_client().local_addr().unwrap().port();
    let src_dir = temp_dir("test-src").unwrap();
    let src = source(&src_dir, "g.bin", 10_000, 10);
    let dest: SocketAddr = ([127, 0, 0, 1], port).into();
    let t0 = Instant::now();
    let r = send_file(dest, "t", &src, &LossConfig::default(), &mut |_, _| {});
    assert!(matches!(r, Err(TransferError::PeerGone)), "{r:?}");
    assert!(t0.elapsed() < PEER_TIMEOUT, "{:?}", t0.elapsed());
}

#[test]
fn file_change_is_detected() {
    let dir = temp_dir("test-src").unwrap();
    let p = source(&dir, "c.bin", 1000, 9);
    let mut f = fs::File::open(&p).unwrap();
    let meta = f.metadata().unwrap();
    std::io::copy(&mut f, &mut std::io::sink()).unwrap();
    assert!(check_unchanged(&mut f, &meta).is_ok());
    fs::OpenOptions::new()
        .append(true)
        .open(&p)
        .unwrap()
        .write_all(b"more")
        .unwrap();
    let r = check_unchanged(&mut f, &meta);
    assert!(matches!(r, Err(TransferError::FileChanged)), "{r:?}");
}
