//! Certificates made by openssl, as an operator would (BEHAVIOUR §8): RSA and EC keys in
//! PKCS#8, PKCS#1 and SEC1 PEM load with `--tls-cert`/`--tls-key`, the printed
//! fingerprint is openssl's, and `--ca` verifies the chain and the name or IP. openssl is
//! installed by .ci/run when missing.

mod common;
mod tls_support;

use chinwag::protocol::Then;
use chinwag::tls::Trust;
use common::password;
use std::path::Path;
use std::process::Command as Proc;
use tls_support::{data_dir, tls_server, TlsClient};

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
            &[&self_signed("/CN=chinwag test")[..], newkey].concat(),
            &cert,
            &key,
        );
        convert_key(kind, &key);
        let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let (server, fp) = tls_server(dir.path(), &["--tls-cert", c, "--tls-key", k]);
        assert_eq!(fp, openssl_fingerprint(&cert), "{kind}");
        // A user per name: the second login must not race the first one's logout.
        for (name, user) in [("localhost", "vader"), ("127.0.0.1", "leia")] {
            let mut via_ca = TlsClient::with(server.addr, &Trust::Ca(cert.clone()), Some(name))
                .unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
            assert_eq!(via_ca.login(user, password(user)).then, Then::LoggedIn);
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
    let ca_args = [&self_signed("/CN=chinwag CA")[..], &ec[..]];
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
    // A user per name: the second login must not race the first one's logout.
    for (name, user) in [("localhost", "hans"), ("127.0.0.1", "yoda")] {
        let mut c = TlsClient::with(server.addr, &Trust::Ca(p("ca.pem")), Some(name)).unwrap();
        assert_eq!(c.login(user, password(user)).then, Then::LoggedIn);
    }
    assert!(TlsClient::with(server.addr, &Trust::Ca(p("other.pem")), Some("localhost")).is_err());
}

/// `openssl req` arguments for a self-signed certificate with `subject`.
fn self_signed(subject: &str) -> [&str; 7] {
    ["req", "-x509", "-nodes", "-days", "2", "-subj", subject]
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
