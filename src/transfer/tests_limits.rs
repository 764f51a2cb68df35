//! What an audience takes at once and where it saves (BEHAVIOUR 3.4): at most
//! `MAX_INCOMING` uploads, the next refused as busy; an existing file is never
//! overwritten (the upload takes a free name); progress reports while an upload runs.

use super::test_files::temp_dir;
use super::tests::{raw_client, raw_start, source, Audience};
use super::wire::{self, Packet};
use super::*;
use std::fs;
use std::time::Duration;

#[test]
fn a_ninth_upload_at_once_is_refused_as_busy() {
    let aud = Audience::new(LossConfig::default());
    // Eight uploads started by raw peers, each from its own address, all still open.
    let peers: Vec<_> = (0..MAX_INCOMING).map(|_| raw_client()).collect();
    for (i, peer) in peers.iter().enumerate() {
        let tok = format!("t{i}");
        aud.recv.expect(&tok, "yoda", &format!("f{i}.bin"));
        let reply = raw_start(peer, aud.addr(), &tok, &format!("f{i}.bin"), 100_000);
        let reply = reply.expect("a reply");
        assert!(matches!(wire::parse(&reply), Some(Packet::StartAck { .. })));
    }
    let src_dir = temp_dir("test-src").unwrap();
    let src = source(&src_dir, "late.bin", 10_000, 3);
    aud.recv.expect("late", "hans", "late.bin");
    let r = send_file(
        aud.addr(),
        "late",
        &src,
        &LossConfig::default(),
        &mut |_, _| {},
    );
    assert!(matches!(r, Err(TransferError::Busy)), "{r:?}");
    assert!(matches!(aud.event(2), RecvEvent::Failed { ref file, .. } if file == "late.bin"));
    assert!(!aud.dir.join("hans_late.bin").exists());
}

#[test]
fn an_existing_file_is_never_overwritten() {
    let aud = Audience::new(LossConfig::default());
    fs::write(aud.dir.join("alice_talk.bin"), b"mine").unwrap();
    let src_dir = temp_dir("test-src").unwrap();
    let src = source(&src_dir, "talk.bin", 50_000, 9);
    let mut saved = Vec::new();
    for tok in ["a1", "a2"] {
        aud.recv.expect(tok, "alice", "talk.bin");
        send_file(
            aud.addr(),
            tok,
            &src,
            &LossConfig::default(),
            &mut |_, _| {},
        )
        .unwrap();
        match aud.event(5) {
            RecvEvent::Received { saved_as, .. } => saved.push(saved_as),
            other => panic!("{other:?}"),
        }
    }
    let names: Vec<_> = saved
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["alice_talk-1.bin", "alice_talk-2.bin"]);
    assert_eq!(fs::read(aud.dir.join("alice_talk.bin")).unwrap(), b"mine");
    for p in saved {
        assert_eq!(fs::read(p).unwrap(), fs::read(&src).unwrap());
    }
}

#[test]
fn progress_is_reported_from_the_start() {
    let tmp = temp_dir("test-dst").unwrap();
    let (tx, events) = crossbeam_channel::unbounded();
    let (ptx, progress) = crossbeam_channel::unbounded();
    let addr = "127.0.0.1:0".parse().unwrap();
    let recv = Receiver::bind_with_progress(
        addr,
        tmp.path().to_path_buf(),
        LossConfig::default(),
        tx,
        Some(ptx),
    )
    .unwrap();
    let src_dir = temp_dir("test-src").unwrap();
    let src = source(&src_dir, "big.bin", 2_000_000, 4);
    recv.expect("p", "yoda", "big.bin");
    let to = ([127, 0, 0, 1], recv.local_port()).into();
    send_file(to, "p", &src, &LossConfig::default(), &mut |_, _| {}).unwrap();
    let ev = events.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(matches!(ev, RecvEvent::Received { .. }));
    let first = progress.recv_timeout(Duration::from_secs(1)).unwrap();
    assert_eq!(
        (first.from.as_str(), first.file.as_str()),
        ("yoda", "big.bin")
    );
    assert_eq!((first.done, first.size), (0, 2_000_000));
    assert!(progress.try_iter().all(|p| p.done <= p.size));
}
