//! TLS on the server's port (BEHAVIOUR §8), through the real `chinwag-server` binary:
//! TLS and plain side by side, pinning, `--tls-required`, a kept certificate, the
//! pre-login timeout, a recording relay, and Python's ssl module as an independent
//! client. Certificates made by openssl: tests/tls_certs.rs.

mod common;
mod tls_support;

use chinwag::protocol::{Command, Event, ServerMsg, Then};
use common::{password, Client, WAIT};
use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::Command as Proc;
use std::time::Instant;
use tls_support::{data_dir, tls_server, Relay, TlsClient};

#[test]
fn tls_and_plain_share_the_port_and_the_certificate_is_kept() {
    let dir = data_dir();
    let (mut server, fp) = tls_server(dir.path(), &["--tls"]);
    let key = dir.path().join("tls/key.pem");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the key is the owner's only");

    let mut hans = TlsClient::connect(server.addr, &fp).unwrap();
    assert_eq!(hans.login("hans", password("hans")).then, Then::LoggedIn);
    let mut yoda = Client::login(server.addr, "yoda", password("yoda"));
    let r = hans.call(Command::Message {
        to: "yoda".into(),
        text: "over tls".into(),
    });
    assert!(r.ok, "{:?}", r.lines);
    assert_eq!(yoda.text(), "hans: over tls");
    yoda.send(Command::Message {
        to: "hans".into(),
        text: "back in clear".into(),
    });
    let got = loop {
        match hans.read().expect("hans's connection ended") {
            ServerMsg::Event(Event::Text { text, .. } | Event::Broadcast { text }) => break text,
            _ => continue,
        }
    };
    assert_eq!(got, "yoda: back in clear");

    server.kill9();
    let (_again, fp_again) = tls_server(dir.path(), &["--tls"]);
    assert_eq!(fp, fp_again, "the certificate survives a restart");
}

/// Megabytes each way: the server's TLS writes fill the socket, park, and are finished
/// by the outbox's flusher in order.
#[test]
fn a_forum_upload_and_download_cross_tls_intact() {
    let dir = data_dir();
    let (server, fp) = tls_server(dir.path(), &["--tls"]);
    let mut c = TlsClient::connect(server.addr, &fp).unwrap();
    c.login("hans", password("hans"));
    assert!(c.call(Command::Crt { title: "t".into() }).ok);
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let r = c.upload("t", "big.bin", &data);
    assert!(r.ok, "{:?}", r.lines);
    assert!(c.download("t", "big.bin") == data, "the download differs");
}

#[test]
fn a_pinned_client_refuses_another_certificate() {
    let dir = data_dir();
    let (server, fp) = tls_server(dir.path(), &["--tls"]);
    let other = format!("SHA256:{}", "ab".repeat(32));
    let err = TlsClient::connect(server.addr, &other).err().unwrap();
    assert!(err.contains(&fp) && err.contains(&other), "{err}");
    let upper = format!("SHA256:{}", fp["SHA256:".len()..].to_uppercase());
    assert!(
        TlsClient::connect(server.addr, &upper).is_ok(),
        "hex in either case"
    );
}

#[test]
fn tls_required_refuses_plain_connections_with_the_line() {
    let dir = data_dir();
    let (server, fp) = tls_server(dir.path(), &["--tls-required"]);
    let mut plain = Client::connect(server.addr);
    plain.send(Command::Hello {
        udp_port: 0,
        p2p_port: 0,
    });
    match plain.read() {
        Some(ServerMsg::Event(Event::Bye { text, code })) => {
            assert_eq!(
                text,
                "Error. This server requires TLS: connect with chinwag --tls"
            );
            assert_ne!(code, 0);
        }
        other => panic!("{other:?}"),
    }
    assert!(plain.read().is_none(), "and the connection is closed");
    let mut tls = TlsClient::connect(server.addr, &fp).unwrap();
    assert_eq!(tls.login("luke", password("luke")).then, Then::LoggedIn);
}

#[test]
fn the_login_timeout_closes_silent_and_stalled_tls_connections() {
    let dir = data_dir();
    let (server, _) = tls_server(dir.path(), &["--tls", "--login-timeout", "0.3"]);
    for first in [&b""[..], &[0x16, 0x03, 0x01][..]] {
        let mut sock = TcpStream::connect(server.addr).unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        std::io::Write::write_all(&mut sock, first).unwrap();
        let start = Instant::now();
        let mut all = Vec::new();
        let _ = sock.read_to_end(&mut all);
        assert!(
            start.elapsed() < WAIT,
            "closed by the server, not the timeout"
        );
    }
}

#[test]
fn a_relay_between_client_and_server_sees_no_password_and_no_message() {
    let dir = data_dir();
    let (server, fp) = tls_server(dir.path(), &["--tls"]);
    let relay = Relay::start(server.addr);
    let mut hans = TlsClient::connect(relay.addr, &fp).unwrap();
    assert_eq!(hans.login("hans", password("hans")).then, Then::LoggedIn);
    let mut yoda = TlsClient::connect(server.addr, &fp).unwrap();
    yoda.login("yoda", password("yoda"));
    let secret = "the plans are hidden in R2";
    hans.call(Command::Message {
        to: "yoda".into(),
        text: secret.into(),
    });
    yoda.send(Command::Message {
        to: "hans".into(),
        text: "received the secret words".into(),
    });
    let got = loop {
        if let Some(ServerMsg::Event(Event::Text { text, .. } | Event::Broadcast { text })) =
            hans.read()
        {
            break text;
        }
    };
    assert_eq!(got, "yoda: received the secret words");
    assert!(!relay.seen.lock().is_empty());
    assert!(
        !relay.saw(password("hans")),
        "the password crossed in clear"
    );
    assert!(!relay.saw(secret) && !relay.saw("secret words"));
    assert!(!relay.saw("hans"), "not even the user name");

    // The relay does record: a plain client's password shows.
    let clear = Relay::start(server.addr);
    let _leia = Client::login(clear.addr, "leia", password("leia"));
    assert!(clear.saw(password("leia")));
}

/// Python's ssl module, an independent TLS stack: TLS 1.3 and 1.2, verified against the
/// certificate the server made, logs in and reads its welcome.
#[test]
fn python_ssl_logs_in_over_tls_13_and_12() {
    let dir = data_dir();
    let (server, _) = tls_server(dir.path(), &["--tls-required"]);
    let cert = dir.path().join("tls/cert.pem");
    let script = r#"
import json, socket, ssl, sys
port, cafile, version = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(cafile)
ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, version)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
f = s.makefile("rwb")
def call(i, **cmd):
    f.write((json.dumps(dict(id=i, **cmd)) + "\n").encode()); f.flush()
    while True:
        msg = json.loads(f.readline())
        if msg.get("re") == i:
            return msg
call(1, cmd="hello", udp_port=0, p2p_port=0)
call(2, cmd="username", name="obiwan")
r = call(3, cmd="password", password="(jedimaster)")
print(s.version(), r["then"], r["lines"][0])
"#;
    for version in ["TLSv1_3", "TLSv1_2"] {
        let out = Proc::new("python3")
            .args(["-c", script, &server.addr.port().to_string()])
            .arg(&cert)
            .arg(version)
            .output()
            .expect("python3 runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = version.replace('_', ".");
        assert!(
            text.starts_with(&format!("{want} logged_in Welcome")),
            "{text}"
        );
    }
}

/// A broadcast to many TLS clients is written by the sender and the flusher together
/// (`outbox::WriteThrough`): every client, TLS or plain, still gets every line, in order.
#[test]
fn broadcasts_to_a_crowd_over_tls_arrive_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let n = 48;
    let creds: String = (0..=n).map(|i| format!("user{i} pw{i}\n")).collect();
    std::fs::write(dir.path().join("credentials.txt"), creds).unwrap();
    let (server, fp) = tls_server(dir.path(), &["--tls"]);
    let mut tls: Vec<TlsClient> = (1..n - 3)
        .map(|i| {
            let mut c = TlsClient::connect(server.addr, &fp).unwrap();
            assert_eq!(
                c.login(&format!("user{i}"), &format!("pw{i}")).then,
                Then::LoggedIn
            );
            c
        })
        .collect();
    let mut plain: Vec<Client> = (n - 3..=n)
        .map(|i| Client::login(server.addr, &format!("user{i}"), &format!("pw{i}")))
        .collect();
    let mut sender = TlsClient::connect(server.addr, &fp).unwrap();
    sender.login("user0", "pw0");
    let lines = 30;
    for k in 0..lines {
        sender.send(Command::Broadcast {
            text: format!("line {k}"),
        });
    }
    let said = |ev: Event| match ev {
        Event::Broadcast { text } | Event::Text { text, .. } if text.starts_with("user0: ") => {
            Some(text)
        }
        _ => None,
    };
    for k in 0..lines {
        let want = format!("user0: line {k}");
        for c in tls.iter_mut() {
            let got = std::iter::repeat_with(|| c.event()).find_map(said).unwrap();
            assert_eq!(got, want);
        }
        for c in plain.iter_mut() {
            let got = std::iter::repeat_with(|| c.event()).find_map(said).unwrap();
            assert_eq!(got, want);
        }
    }
}
