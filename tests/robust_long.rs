//! Robustness, finding 1: the longest message a request can carry (a 64 KiB request
//! line) reaches the real client whole, live, offline, from `RDM` and from `RDT`, and a
//! login's long backlog of offline messages arrives in full.

mod common;

use chinwag::protocol::{self, Command, Request, MAX_LINE};
use common::{password, Bin, Client, TestServer};

/// Sends `make(text)` as a request line of exactly [`MAX_LINE`] bytes, its text starting
/// with `tag`; returns the text and waits for the response.
fn send_max(c: &mut Client, id: u64, tag: &str, make: impl Fn(String) -> Command) -> String {
    send_max_of(c, id, tag, "x", make)
}

/// [`send_max`] with `fill` repeated (its JSON form may be longer than itself).
fn send_max_of(
    c: &mut Client,
    id: u64,
    tag: &str,
    fill: &str,
    make: impl Fn(String) -> Command,
) -> String {
    let len = |text: &str| {
        protocol::encode(&Request {
            id,
            cmd: make(text.to_string()),
        })
        .len()
    };
    let mut text = tag.to_string();
    let per = len(&format!("{tag}{fill}")) - len(tag);
    text.push_str(&fill.repeat((MAX_LINE - len(tag)) / per));
    text.push_str(&"x".repeat(MAX_LINE - len(&text)));
    let line = protocol::encode(&Request {
        id,
        cmd: make(text.clone()),
    });
    assert_eq!(line.len(), MAX_LINE);
    c.send_raw(&line).unwrap();
    let r = c.wait(id);
    assert!(r.ok, "{:?}", r.lines);
    text
}

#[test]
fn a_max_size_message_reaches_the_client_whole_everywhere() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let mut yoda = Bin::connect(server.addr, home.path());
    yoda.login("yoda", password("yoda"));
    let mut hans = Client::login(server.addr, "hans", password("hans"));
    let live = send_max(&mut hans, 100, "live", |text| Command::Message {
        to: "yoda".into(),
        text,
    });
    yoda.expect(&format!("hans: {live}"));
    let bcm = send_max(&mut hans, 101, "bcm", |text| Command::Bcm { text });
    yoda.expect(&format!("hans: {bcm}"));
    hans.call(Command::Crt { title: "T".into() });
    let post = send_max(&mut hans, 102, "post", |text| Command::Msg {
        title: "T".into(),
        text,
    });
    yoda.send("RDM b 1 Jan 2000 00:00:00");
    yoda.expect(&bcm);
    yoda.send("RDT T");
    yoda.expect(&format!("1 hans: {post}"));
    let offline = send_max(&mut hans, 103, "offline", |text| Command::Message {
        to: "leia".into(),
        text,
    });
    let mut leia = Bin::connect(server.addr, home.path());
    leia.login("leia", password("leia"));
    leia.expect(&format!("hans: {offline}"));
    yoda.send("whoelse");
    yoda.expect("leia");
}

#[test]
fn a_login_delivers_a_long_offline_backlog_in_full_and_once() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let mut hans = Client::login(server.addr, "hans", password("hans"));
    let texts: Vec<String> = (0..200)
        .map(|i| format!("{i:03} {}", "z".repeat(496)))
        .collect();
    for text in &texts {
        let r = hans.call(Command::Message {
            to: "yoda".into(),
            text: text.clone(),
        });
        assert!(r.ok, "{:?}", r.lines);
    }
    let mut yoda = Bin::connect(server.addr, home.path());
    yoda.login("yoda", password("yoda"));
    for text in &texts {
        yoda.expect_line(&format!("hans: {text}"));
    }
    yoda.send("logout");
    yoda.expect("Goodbye");
    // Delivered once: a second login gets none of them.
    let mut again = Client::connect(server.addr);
    let r = again.try_login("yoda", password("yoda"));
    assert_eq!(r.lines, [chinwag::text::WELCOME]);
    again.quiet_for(std::time::Duration::from_millis(100));
}

/// The worst case for the framing: a max-size text of characters JSON escapes (`"` and
/// `\\` take two bytes each way), read back live and from the log, whole.
#[test]
fn a_max_size_message_of_escaped_characters_fits_the_client_limit() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let mut yoda = Bin::connect(server.addr, home.path());
    yoda.login("yoda", password("yoda"));
    let mut hans = Client::login(server.addr, "hans", password("hans"));
    let bcm = send_max_of(&mut hans, 100, "q", "\"\\", |text| Command::Bcm { text });
    assert!(bcm.len() > MAX_LINE / 2 - 100);
    yoda.expect(&format!("hans: {bcm}"));
    yoda.send("RDM b 1 Jan 2000 00:00:00");
    yoda.expect(&format!("hans: {bcm} at "));
    let mut leia = Client::login(server.addr, "leia", password("leia"));
    let r = leia.call(Command::Rdm {
        kind: "b".into(),
        since: "1 Jan 2000 00:00:00".into(),
    });
    assert!(
        r.lines.iter().any(|l| l.contains(&bcm)),
        "{:?}",
        r.lines.len()
    );
}
