//! Peer to peer over TLS (BEHAVIOUR §8): private chat pinned to the listener's fresh
//! certificate (through a recording relay that finds no message text), and UDP uploads
//! sealed under the server's per-transfer key, with garbage datagrams injected into the
//! transfer that are dropped and counted, never written.

mod common;
mod tls_support;

use chinwag::client::output::Printer;
use chinwag::client::peer::PeerIdentity;
use chinwag::client::private::PrivateChat;
use chinwag::protocol::{Command, Event, Then};
use chinwag::tls::new_transfer_key;
use chinwag::transfer::{self, LossConfig, RecvEvent};
use common::{password, Bin, Client, WAIT};
use crossbeam_channel::{unbounded, Receiver};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tls_support::{data_dir, tls_server, Relay, TlsClient};

fn node(me: &str) -> (PrivateChat, Receiver<String>) {
    let (tx, rx) = unbounded();
    let chat = PrivateChat::start_with_sink(Printer::plain(), Some(tx)).unwrap();
    chat.set_me(me);
    (chat, rx)
}

fn said(rx: &Receiver<String>, want: &str) -> String {
    loop {
        let line = rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("no {want:?}"));
        if line.contains(want) {
            return line;
        }
    }
}

#[test]
fn private_chat_over_tls_is_pinned_and_unreadable_on_the_wire() {
    let (yoda, yoda_says) = node("yoda");
    yoda.use_tls(PeerIdentity::generate().unwrap());
    let pin = yoda.fingerprint().unwrap();
    let relay = Relay::start(SocketAddr::from(([127, 0, 0, 1], yoda.port())));
    let (hans, hans_says) = node("hans");
    yoda.expect("hans", "t0k3n");
    hans.connect_pinned("yoda", &relay.addr.to_string(), "t0k3n", Some(&pin));
    said(&hans_says, "Start private messaging with yoda");
    hans.send("yoda", "the rebels hide on Hoth").unwrap();
    assert_eq!(
        said(&yoda_says, "(private)"),
        "hans(private): the rebels hide on Hoth"
    );
    yoda.send("hans", "noted, thank you").unwrap();
    said(&hans_says, "yoda(private): noted, thank you");
    assert!(!relay.seen.lock().is_empty());
    assert!(!relay.saw("Hoth") && !relay.saw("noted") && !relay.saw("t0k3n"));

    // Another certificate than the one the server passed on: refused.
    let (luke, luke_says) = node("luke");
    yoda.expect("luke", "other");
    let wrong = format!("SHA256:{}", "cd".repeat(32));
    luke.connect_pinned(
        "yoda",
        &format!("127.0.0.1:{}", yoda.port()),
        "other",
        Some(&wrong),
    );
    said(
        &luke_says,
        "Error. yoda is no longer available for private messaging",
    );
    // A plain connection to a TLS listener: refused too.
    yoda.expect("luke", "plain");
    luke.connect("yoda", &format!("127.0.0.1:{}", yoda.port()), "plain");
    said(
        &luke_says,
        "Error. yoda is no longer available for private messaging",
    );
    assert!(!yoda.has_session("luke"));
    for chat in [hans, yoda, luke] {
        chat.shutdown();
    }
}

/// A plain-connected client's listener: an asker given its fingerprint chats over TLS
/// (nothing readable on the wire), one given none chats in plain.
#[test]
fn a_plain_connected_listener_takes_a_pinned_tls_asker_and_a_plain_one() {
    let (hans, hans_says) = node("hans");
    hans.use_tls(PeerIdentity::generate().unwrap().and_plain());
    let pin = hans.fingerprint().unwrap();
    let relay = Relay::start(SocketAddr::from(([127, 0, 0, 1], hans.port())));
    let (yoda, yoda_says) = node("yoda");
    hans.expect("yoda", "t0k3n");
    yoda.connect_pinned("hans", &relay.addr.to_string(), "t0k3n", Some(&pin));
    said(&yoda_says, "Start private messaging with hans");
    yoda.send("hans", "meet me on Dagobah").unwrap();
    said(&hans_says, "yoda(private): meet me on Dagobah");
    assert!(!relay.seen.lock().is_empty());
    assert!(!relay.saw("Dagobah") && !relay.saw("t0k3n"));

    let (luke, luke_says) = node("luke");
    hans.expect("luke", "plain");
    luke.connect("hans", &format!("127.0.0.1:{}", hans.port()), "plain");
    said(&luke_says, "Start private messaging with hans");
    luke.send("hans", "in clear").unwrap();
    said(&hans_says, "luke(private): in clear");
    for chat in [hans, yoda, luke] {
        chat.shutdown();
    }
}

/// Garbage at `port` until `stop`: random bytes, bytes that look sealed, plain packets.
/// Returns once the first is sent, so a transfer started next meets some even when the
/// thread would otherwise be scheduled late (a loaded machine, many tests at once).
fn inject(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let (started, first) = crossbeam_channel::bounded(1);
    let injector = std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut sent = 0;
        while !stop.load(Ordering::Relaxed) {
            let mut junk = vec![0u8; 200 + (x % 1000) as usize];
            for b in junk.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            junk[0] = [0xC8, 0xC7, junk[0]][(sent % 3) as usize];
            let _ = sock.send_to(&junk, ("127.0.0.1", port));
            sent += 1;
            let _ = started.try_send(());
            std::thread::sleep(Duration::from_micros(200));
        }
        sent
    });
    first.recv_timeout(WAIT).expect("the injector sends");
    injector
}

#[test]
fn a_sealed_upload_drops_and_counts_injected_garbage_and_arrives_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, events) = unbounded();
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let receiver =
        transfer::Receiver::bind(any, dir.path().into(), LossConfig::default(), tx).unwrap();
    let key = new_transfer_key();
    receiver.expect_sealed("tok", "yoda", "f.bin", &key);
    let src = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i ^ (i >> 9)) as u8).collect();
    std::fs::write(src.path().join("f.bin"), &data).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let injector = inject(receiver.local_port(), stop.clone());
    let dest = SocketAddr::from(([127, 0, 0, 1], receiver.local_port()));
    let loss = LossConfig::parse("drop=0.02,reorder=0.02,seed=3");
    let sent = transfer::send_file_sealed(
        dest,
        "tok",
        &src.path().join("f.bin"),
        &loss,
        Some(&key),
        &mut |_, _| {},
    );
    stop.store(true, Ordering::Relaxed);
    let injected = injector.join().unwrap();
    assert_eq!(sent.unwrap(), data.len() as u64);
    match events.recv_timeout(WAIT).unwrap() {
        RecvEvent::Received { saved_as, .. } => {
            assert!(std::fs::read(saved_as).unwrap() == data, "the file differs");
        }
        other => panic!("{other:?}"),
    }
    assert!(injected > 0);
    assert!(
        receiver.dropped() > 0,
        "garbage that looked sealed is counted"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "nothing else written: {names:?}");
}

/// What the server hands the peers over TLS: the listener's fingerprint with the token,
/// and one fresh key per upload to both sides; nothing of the kind in clear.
#[test]
fn the_server_passes_the_fingerprint_and_a_fresh_key_per_upload() {
    let dir = data_dir();
    let (server, fp) = tls_server(dir.path(), &["--tls"]);
    let mut hans = TlsClient::connect(server.addr, &fp).unwrap();
    hans.login_udp("hans", password("hans"), 40_000);
    let mut yoda = TlsClient::connect(server.addr, &fp).unwrap();
    yoda.login("yoda", password("yoda"));
    let pin = format!("SHA256:{}", "5e".repeat(32));
    assert!(
        yoda.call(Command::StartPrivate {
            user: "hans".into()
        })
        .ok
    );
    while !matches!(hans.event(), Event::PrivateRequest { .. }) {}
    let answer = Command::PrivateAnswer {
        from: "yoda".into(),
        accept: true,
        fingerprint: Some(pin.clone()),
    };
    assert!(matches!(hans.call(answer).then, Then::AwaitPeer { .. }));
    let accepted = loop {
        if let Event::PrivateAccepted { fingerprint, .. } = yoda.event() {
            break fingerprint;
        }
    };
    assert_eq!(accepted, Some(pin));
    let mut keys = Vec::new();
    for _ in 0..2 {
        let r = yoda.call(Command::Udp {
            user: "hans".into(),
            file: "f.bin".into(),
        });
        let Then::UdpSend { key: Some(key), .. } = r.then else {
            panic!("{r:?}");
        };
        let theirs = loop {
            if let Event::UdpIncoming { key, .. } = hans.event() {
                break key;
            }
        };
        assert_eq!(theirs.as_ref(), Some(&key));
        assert!(chinwag::tls::key_from_hex(&key).is_some());
        keys.push(key);
    }
    assert_ne!(keys[0], keys[1], "a fresh key per transfer");

    // Between two plain clients, no key.
    let mut luke = Client::login(server.addr, "luke", password("luke"));
    let mut leia = Client::connect(server.addr);
    leia.call(Command::Hello {
        udp_port: 40_001,
        p2p_port: 0,
    });
    leia.call(Command::Username {
        name: "leia".into(),
    });
    leia.call(Command::Password {
        password: password("leia").into(),
    });
    let r = luke.call(Command::Udp {
        user: "leia".into(),
        file: "f.bin".into(),
    });
    assert!(matches!(r.then, Then::UdpSend { key: None, .. }), "{r:?}");
}

/// yoda asks hans, hans accepts, and yoda's first private line reaches him.
fn private_chat_opens(yoda: &mut Bin, hans: &mut Bin) {
    yoda.send("startprivate hans");
    hans.expect("yoda would like to private message");
    hans.send("y");
    yoda.expect("Start private messaging with hans");
    yoda.send("private hans the plans are in R2");
    hans.expect("yoda(private): the plans are in R2");
}

/// Through the real binaries: a TLS server, two TLS clients; private chat and a sealed
/// UDP upload while garbage is thrown at the audience's UDP port.
#[test]
fn real_clients_chat_privately_and_upload_over_tls() {
    let dir = data_dir();
    let (server, fp) = tls_server(dir.path(), &["--tls-required"]);
    let udp_port = {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let port = server.addr.port().to_string();
    let (hans_dir, yoda_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = |udp: u16| -> Vec<String> {
        ["--fingerprint", &fp, "127.0.0.1", &port, &udp.to_string()]
            .map(String::from)
            .to_vec()
    };
    let mut hans = Bin::start(&args(udp_port), hans_dir.path());
    hans.login("hans", password("hans"));
    let mut yoda = Bin::start(&args(0), yoda_dir.path());
    yoda.login("yoda", password("yoda"));

    private_chat_opens(&mut yoda, &mut hans);

    let data: Vec<u8> = (0..2_000_000u32)
        .map(|i| (i * 31 + (i >> 11)) as u8)
        .collect();
    std::fs::write(yoda_dir.path().join("plans.bin"), &data).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let injector = inject(udp_port, stop.clone());
    yoda.send("UDP hans plans.bin");
    hans.expect("Received plans.bin from yoda");
    yoda.expect("plans.bin has been uploaded");
    stop.store(true, Ordering::Relaxed);
    assert!(injector.join().unwrap() > 0);
    let got = std::fs::read(hans_dir.path().join("yoda_plans.bin")).unwrap();
    assert!(got == data, "the upload differs");
}

/// A TLS client asks a plain one on a `--tls` server: the chat works both ways (and runs
/// over TLS: the plain side's listener takes the pinned connection, tested above).
#[test]
fn a_tls_client_and_a_plain_one_chat_privately() {
    let dir = data_dir();
    let (server, fp) = tls_server(dir.path(), &["--tls"]);
    let port = server.addr.port().to_string();
    let (hans_dir, yoda_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut hans = Bin::start(&["127.0.0.1", &port].map(String::from), hans_dir.path());
    hans.login("hans", password("hans"));
    let tls = ["--fingerprint", &fp, "127.0.0.1", &port].map(String::from);
    let mut yoda = Bin::start(&tls, yoda_dir.path());
    yoda.login("yoda", password("yoda"));

    private_chat_opens(&mut yoda, &mut hans);
    hans.send("private yoda received");
    yoda.expect("hans(private): received");
}
