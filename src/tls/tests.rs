//! Real handshakes over loopback TCP: pinning, trust on first use, a changed certificate,
//! a CA, and the identity kept on disk.

use super::*;
use rustls::pki_types::ServerName;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

const WAIT: Option<Duration> = Some(Duration::from_secs(5));

/// A TLS echo server on one address that presents `ids[i]` to its i-th connection.
fn serve(ids: &[&Identity]) -> std::net::SocketAddr {
    let configs: Vec<_> = ids.iter().map(|id| id.server_config().unwrap()).collect();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for config in configs {
            let (sock, _) = listener.accept().unwrap();
            sock.set_read_timeout(WAIT).unwrap();
            let conn = rustls::ServerConnection::new(config).unwrap();
            let mut tls = BufReader::new(rustls::StreamOwned::new(conn, sock));
            let mut line = String::new();
            if tls.read_line(&mut line).is_ok() {
                let _ = tls.get_mut().write_all(format!("echo {line}").as_bytes());
            }
        }
    });
    addr
}

fn serve_once(id: &Identity) -> std::net::SocketAddr {
    serve(&[id])
}

/// Connects under `trust`, says hello, returns the echo or the refusal.
fn hello(addr: std::net::SocketAddr, trust: &Trust) -> Result<String, Option<Refusal>> {
    let (config, refusal) = client_config(trust, &addr.to_string()).unwrap();
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(WAIT).unwrap();
    let name = ServerName::try_from(addr.ip().to_string()).unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut tls = BufReader::new(rustls::StreamOwned::new(conn, sock));
    let sent = tls.get_mut().write_all(b"hi\n");
    let mut line = String::new();
    match sent.and_then(|_| tls.read_line(&mut line)) {
        Ok(n) if n > 0 => Ok(line),
        _ => Err(refusal.lock().clone()),
    }
}

fn first_use(known: &Path, answer: bool, asked: &Arc<AtomicUsize>) -> Trust {
    let asked = asked.clone();
    Trust::FirstUse {
        known: known.to_path_buf(),
        ask: Arc::new(move |_fp: &str| {
            asked.fetch_add(1, Ordering::SeqCst);
            answer
        }),
    }
}

#[test]
fn a_pinned_fingerprint_is_the_only_one_accepted() {
    let id = Identity::generate(&["localhost"]).unwrap();
    let fp = id.fingerprint();
    assert!(fp.starts_with("SHA256:") && fp.len() == 7 + 64, "{fp}");
    let ok = hello(serve_once(&id), &Trust::Fingerprint(fp.to_uppercase()));
    assert_eq!(ok, Ok("echo hi\n".to_string()));

    let other = Identity::generate(&["localhost"]).unwrap();
    let refused = hello(serve_once(&other), &Trust::Fingerprint(fp.clone()));
    let want = Refusal::Mismatch {
        want: fp,
        got: other.fingerprint(),
    };
    assert_eq!(refused, Err(Some(want)));
}

#[test]
fn first_use_asks_once_remembers_and_refuses_a_changed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("chinwag/known_servers");
    let asked = Arc::new(AtomicUsize::new(0));
    let id = Identity::generate(&["localhost"]).unwrap();

    let new = Identity::generate(&["localhost"]).unwrap();
    let addr = serve(&[&id, &id, &id, &new]);
    let no = hello(addr, &first_use(&known, false, &asked));
    let got = id.fingerprint();
    assert_eq!(no, Err(Some(Refusal::Unknown { got: got.clone() })));
    let yes = hello(addr, &first_use(&known, true, &asked));
    assert_eq!(yes, Ok("echo hi\n".to_string()));
    let again = hello(addr, &first_use(&known, false, &asked));
    assert_eq!(again, Ok("echo hi\n".to_string()));
    assert_eq!(asked.load(Ordering::SeqCst), 2, "asked only while unknown");

    let changed = hello(addr, &first_use(&known, true, &asked));
    let Err(Some(Refusal::Changed { was, line, .. })) = changed else {
        panic!("not refused as changed: {changed:?}");
    };
    assert_eq!((was, line), (got, 1));
    assert_eq!(
        asked.load(Ordering::SeqCst),
        2,
        "a change is never asked about"
    );
}

#[test]
fn a_ca_file_checks_the_chain_and_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
    let write = |name: &str, text: String| {
        std::fs::write(dir.path().join(name), text).unwrap();
        dir.path().join(name)
    };
    let ca_file = write("ca.pem", ca.pem());
    let id = Identity::load(
        &write("leaf.pem", leaf.pem()),
        &write("leaf.key", leaf_key.serialize_pem()),
    )
    .unwrap();
    let ok = hello(serve_once(&id), &Trust::Ca(ca_file));
    assert_eq!(ok, Ok("echo hi\n".to_string()));

    let stranger = Identity::generate(&["127.0.0.1"]).unwrap();
    let other_ca = write("other.pem", ca.pem());
    assert!(hello(serve_once(&stranger), &Trust::Ca(other_ca)).is_err());
}

#[test]
fn the_kept_identity_survives_a_restart_with_an_owner_only_key() {
    let dir = tempfile::tempdir().unwrap();
    let tls_dir = dir.path().join("tls");
    let first = Identity::load_or_create(&tls_dir).unwrap();
    let second = Identity::load_or_create(&tls_dir).unwrap();
    assert_eq!(first.fingerprint(), second.fingerprint());
    let mode = std::fs::metadata(tls_dir.join(KEY_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let ok = hello(
        serve_once(&second),
        &Trust::Fingerprint(first.fingerprint()),
    );
    assert_eq!(ok, Ok("echo hi\n".to_string()));
}

#[test]
fn tls_and_plain_are_told_apart_by_the_first_byte() {
    assert!(looks_like_tls(0x16));
    assert!(!looks_like_tls(b'{'));
}
