//! TLS on the server's port (BEHAVIOUR §8), through the real `chinwag-server` binary:
//! TLS and plain side by side, pinning, `--tls-required`, a kept certificate, the
//! pre-login timeout, a recording relay, Python's ssl module as an independent client,
//! and certificates made by openssl.

mod common;
mod tls_support;

use chinwag::protocol::{Command, Event, ServerMsg, Then};
use chinwag::tls::Trust;
use common::{password, Client, ServerProc, CREDENTIALS, WAIT};
use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command as Proc;
use std::time::Instant;
use tls_support::{printed_fingerprint, Relay, TlsClient};

fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("credentials.txt"), CREDENTIALS).unwrap();
    dir
}

fn tls_server(dir: &Path, args: &[&str]) -> (ServerProc, String) {
    let server = ServerProc::start(dir, args);
    let fp = printed_fingerprint(&server);
    (server, fp)
}

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
            ServerMsg::Event(Event::Text { text }) => break text,
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
        if let Some(ServerMsg::Event(Event::Text { text })) = hans.read() {
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

/// `openssl req -x509`: RSA and EC keys, as PKCS#8, PKCS#1 and SEC1 PEM; the printed
/// fingerprint is openssl's, and `--ca` verification checks the chain and the name or IP.
#[test]
fn certificates_made_by_openssl_load_and_verify_by_name_and_ip() {
    let kinds: [(&str, &[&str]); 4] = [
        ("rsa-pkcs8", &["-newkey", "rsa:2048"]),
        (
            "ec-pkcs8",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
        ),
        ("rsa-pkcs1", &["-newkey", "rsa:2048"]),
        (
            "ec-sec1",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        ),
    ];
    for (kind, newkey) in kinds {
        let dir = data_dir();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        openssl(
            &[
                &[
                    "req",
                    "-x509",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=chinwag test",
                ],
                newkey,
            ]
            .concat(),
            &cert,
            &key,
        );
        convert_key(kind, &key);
        let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let (server, fp) = tls_server(dir.path(), &["--tls-cert", c, "--tls-key", k]);
        assert_eq!(fp, openssl_fingerprint(&cert), "{kind}");
        for name in ["localhost", "127.0.0.1"] {
            let mut via_ca = TlsClient::with(server.addr, &Trust::Ca(cert.clone()), Some(name))
                .unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
            assert_eq!(
                via_ca.login("vader", password("vader")).then,
                Then::LoggedIn
            );
        }
        let wrong = TlsClient::with(server.addr, &Trust::Ca(cert.clone()), Some("example.org"));
        assert!(
            wrong.is_err(),
            "{kind}: a certificate for another name is refused"
        );
    }
}

/// A leaf signed by a CA of its own: `--ca CA` verifies the chain and the name; another
/// CA's file is refused.
#[test]
fn a_ca_signed_chain_verifies_with_its_ca_only() {
    let dir = data_dir();
    let p = |f: &str| dir.path().join(f);
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let ca_args = [
        &[
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=chinwag CA",
        ],
        &ec[..],
    ];
    openssl(&ca_args.concat(), &p("ca.pem"), &p("ca.key"));
    openssl(&ca_args.concat(), &p("other.pem"), &p("other.key"));
    let s = |f: &str| p(f).to_str().unwrap().to_string();
    let run = |args: &[String]| {
        let out = Proc::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let csr = [
        "req",
        "-new",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-subj",
        "/CN=localhost",
    ];
    let mut args: Vec<String> = csr.iter().map(|a| a.to_string()).collect();
    args.extend(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"].map(String::from));
    args.extend([
        "-keyout".into(),
        s("leaf.key"),
        "-out".into(),
        s("leaf.csr"),
    ]);
    run(&args);
    run(&[
        "x509",
        "-req",
        "-days",
        "2",
        "-copy_extensions",
        "copy",
        "-in",
        &s("leaf.csr"),
        "-CA",
        &s("ca.pem"),
        "-CAkey",
        &s("ca.key"),
        "-out",
        &s("leaf.pem"),
    ]
    .map(String::from));
    let (server, _) = tls_server(
        dir.path(),
        &["--tls-cert", &s("leaf.pem"), "--tls-key", &s("leaf.key")],
    );
    for name in ["localhost", "127.0.0.1"] {
        let mut c = TlsClient::with(server.addr, &Trust::Ca(p("ca.pem")), Some(name)).unwrap();
        assert_eq!(c.login("hans", password("hans")).then, Then::LoggedIn);
    }
    assert!(TlsClient::with(server.addr, &Trust::Ca(p("other.pem")), Some("localhost")).is_err());
}

fn openssl(args: &[&str], cert: &Path, key: &Path) {
    let out = Proc::new("openssl")
        .args(args)
        .args([
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
        ])
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rewrites a PKCS#8 key as PKCS#1 (RSA) or SEC1 (EC), the "traditional" forms.
fn convert_key(kind: &str, key: &Path) {
    let tool = match kind {
        "rsa-pkcs1" => "rsa",
        "ec-sec1" => "ec",
        _ => return,
    };
    let mut args = vec![tool, "-in"];
    let k = key.to_str().unwrap();
    args.extend([k, "-out", k]);
    if tool == "rsa" {
        args.push("-traditional");
    }
    let out = Proc::new("openssl").args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(key).unwrap();
    let want = if tool == "rsa" {
        "BEGIN RSA PRIVATE KEY"
    } else {
        "BEGIN EC PRIVATE KEY"
    };
    assert!(text.contains(want), "{text}");
}

/// `SHA256:<hex>` from openssl's `AB:CD:...` form.
fn openssl_fingerprint(cert: &Path) -> String {
    let out = Proc::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let hex = text.trim().rsplit('=').next().unwrap().replace(':', "");
    format!("SHA256:{}", hex.to_lowercase())
}
