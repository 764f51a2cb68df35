//! What the client shows on a terminal (BEHAVIOUR §1 "On a terminal"): times (for an
//! offline message, when it was sent; for a history line, its own), the kinds of chat line, colours, upload bars, the
//! idle warning, help and did-you-mean, the lockout's duration.

use super::common::{self, password, Client, TestServer};
use super::tmux::{self, Tmux};
use super::{rows, said};
use std::time::{Duration, Instant};

#[test]
fn an_upload_being_received_shows_a_bar_and_never_overwrites() {
    let s = TestServer::start();
    let t = Tmux::new();
    let yoda_dir = tempfile::tempdir().unwrap();
    let hans_dir = tempfile::tempdir().unwrap();
    std::fs::write(hans_dir.path().join("lecture1.mp4"), vec![7u8; 1_000_000]).unwrap();
    std::fs::write(yoda_dir.path().join("hans_lecture1.mp4"), b"keep me").unwrap();
    let yoda = t.client("yoda", s.addr.port(), yoda_dir.path(), &[]);
    // The presenter sends at 1 MB/s, so the upload lasts about 1 s.
    let slow = [("CHINWAG_UDP_LOSS", "rate=1")];
    let hans = t.client("hans", s.addr.port(), hans_dir.path(), &slow);
    yoda.login("yoda", password("yoda"));
    hans.login("hans", password("hans"));
    hans.line("UDP yoda lecture1.mp4");
    // A bar shows only while the upload lasts: both screens are watched at once, so a
    // slow look at one (a loaded machine) does not use up the other's time.
    let (mut receiving, mut sending) = (false, false);
    let deadline = Instant::now() + tmux::WAIT;
    while !(receiving && sending) {
        receiving |= yoda.screen().contains("lecture1.mp4 <- hans");
        sending |= hans.screen().contains("lecture1.mp4 -> yoda");
        assert!(
            Instant::now() < deadline,
            "bars seen: {receiving} {sending}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    yoda.expect("Receiving lecture1.mp4 from hans");
    yoda.expect("Received lecture1.mp4 from hans, saved as hans_lecture1-1.mp4");
    hans.expect("lecture1.mp4 has been uploaded");
    let got = std::fs::read(yoda_dir.path().join("hans_lecture1-1.mp4")).unwrap();
    assert_eq!(got.len(), 1_000_000);
    let kept = std::fs::read(yoda_dir.path().join("hans_lecture1.mp4")).unwrap();
    assert_eq!(kept, b"keep me");
}

#[test]
fn the_idle_logout_is_announced_half_a_minute_ahead() {
    let s = TestServer::with(|c| c.timeout = Some(Duration::from_secs(60)));
    let t = Tmux::new();
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[]);
    yoda.login("yoda", password("yoda"));
    yoda.type_text("a reply being typed");
    // The timer's rule at a chosen `now`: warned once at 30 s left, logged out at 60 s.
    let start = Instant::now();
    s.state.expire(start + Duration::from_secs(29));
    s.state.expire(start + Duration::from_secs(31));
    s.state.expire(start + Duration::from_secs(45));
    yoda.expect("You will be logged out in 30 s for inactivity");
    yoda.expect("yoda> a reply being typed");
    s.state.expire(start + Duration::from_secs(61));
    assert_eq!(yoda.exit_code(), 0);
    let screen = yoda.screen();
    assert_eq!(screen.matches("You will be logged out in 30 s").count(), 1);
    assert!(screen.contains("You have been logged out due to inactivity"));
}

#[test]
fn help_explains_a_command_and_typos_name_the_closest() {
    let s = TestServer::start();
    let t = Tmux::new();
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[]);
    yoda.login("yoda", password("yoda"));
    yoda.line("help message");
    yoda.expect("message: Sends a message to one user");
    yoda.expect("Usage: message <user> <message>");
    yoda.line("mesage hans hi");
    yoda.expect("Error. Invalid command mesage. Did you mean message?");
    yoda.line("Message hans hi");
    yoda.expect("Error. Invalid command Message. Did you mean message?");
    yoda.line("/msg hans hi");
    yoda.expect("Error. Invalid command /msg. Did you mean message?");
    yoda.line("HELP");
    yoda.expect("Error. Invalid command HELP. Did you mean help?");
    yoda.line("LST now");
    yoda.expect("Incorrect syntax for LST");
    yoda.expect("Usage: LST");
}

/// A foreground colour (tmux's capture writes each SGR attribute on its own).
pub(super) fn coloured(screen: &str) -> bool {
    (1..=6).any(|c| screen.contains(&format!("\x1b[3{c}m")))
}

/// `[HH:MM] ` at the start of a screen row that contains `what`.
fn stamped(screen: &str, what: &str) -> bool {
    screen.lines().any(|l| {
        let b = l.as_bytes();
        l.contains(what)
            && b.len() > 8
            && b[0] == b'['
            && b[3] == b':'
            && b[6] == b']'
            && b[1..6].iter().filter(|c| c.is_ascii_digit()).count() == 4
    })
}

#[test]
fn chat_lines_carry_times_and_their_kinds_look_different() {
    let s = TestServer::start();
    let t = Tmux::new();
    let mut hans = Client::login(s.addr, "hans", password("hans"));
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[]);
    yoda.login("yoda", password("yoda"));
    hans.text_cmd("message yoda direct one");
    hans.text_cmd("broadcast to everyone");
    hans.text_cmd("SRB yoda");
    hans.text_cmd("SRM 1 in the room");
    let screen = yoda.expect("room-1: hans: in the room");
    assert!(stamped(&screen, "] hans: direct one"), "{screen}");
    assert!(stamped(&screen, "] (all) hans: to everyone"), "{screen}");
    assert!(stamped(&screen, "] room-1: hans: in the room"), "{screen}");
    // What yoda sends is echoed in the same style.
    yoda.line("message hans back to you");
    assert_eq!(said(&mut hans), "yoda: back to you");
    yoda.line("broadcast hello all");
    yoda.line("SRM 1 room reply");
    let screen = yoda.expect("room-1: yoda: room reply");
    assert!(stamped(&screen, "] yoda -> hans: back to you"), "{screen}");
    assert!(stamped(&screen, "] (all) yoda: hello all"), "{screen}");
    // Names are coloured.
    let colours = yoda.screen_with(true);
    assert!(coloured(&colours), "{colours:?}");
    // Scripted mode is untouched by all of this.
    let mut bin = common::Bin::connect(s.addr, s.dir.path());
    bin.login("luke", password("luke"));
    hans.text_cmd("message luke plain as ever");
    assert_eq!(bin.expect("plain as ever"), "hans: plain as ever");
}

/// An offline message shows when it was sent, not when it is printed. The queue holds
/// one sent at a fixed time (3 h 7 min ago, so never the clock of now) and one stored
/// before times were kept, which shows the time it is printed.
#[test]
fn an_offline_message_shows_the_time_it_was_sent() {
    use chrono::{Local, TimeZone};
    let sent = chinwag::server::store::unix_now() - 3 * 3600 - 7 * 60;
    let clock = Local.timestamp_opt(sent, 0).unwrap().format("[%H:%M]");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("credentials.txt"), common::CREDENTIALS).unwrap();
    let entry = |to: &str, line: &str, sent: Option<i64>| {
        let sent = sent.map_or(String::new(), |t| format!(",\"sent\":{t}"));
        format!("{{\"offline\":{{\"to\":\"{to}\",\"line\":\"{line}\"{sent}}}}}\n")
    };
    let journal = [
        entry("yoda", "hans: from the past", Some(sent)),
        entry("yoda", "hans: from long ago", None),
        entry("luke", "hans: from the past", Some(sent)),
    ];
    std::fs::write(dir.path().join("journal.jsonl"), journal.concat()).unwrap();
    let s = TestServer::in_dir(dir, |_| {});
    let t = Tmux::new();
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[]);
    yoda.login("yoda", password("yoda"));
    let screen = yoda.expect("hans: from long ago");
    let want = format!("{clock} hans: from the past");
    assert!(rows(&screen).contains(&want.as_str()), "{want}:\n{screen}");
    assert!(stamped(&screen, "] hans: from long ago"), "{screen}");
    // Scripted mode prints the line exactly as ever.
    let mut bin = common::Bin::connect(s.addr, s.dir.path());
    bin.login("luke", password("luke"));
    assert_eq!(bin.expect("from the past"), "hans: from the past");
}

/// An `RDM` line starts with the clock of the time it carries; scripted mode is as ever.
#[test]
fn a_history_line_starts_with_the_time_it_was_sent() {
    let s = TestServer::start();
    let t = Tmux::new();
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[("NO_COLOR", "1")]);
    yoda.login("yoda", password("yoda"));
    yoda.line("BCM for the record");
    yoda.expect("Broadcast message, #1 broadcast at");
    yoda.line("RDM b 1 Jun 2022 16:00:00");
    let screen = yoda.expect("#1; yoda: for the record at");
    let row = rows(&screen)
        .into_iter()
        .find(|r| r.contains("#1; yoda: for the record at"))
        .unwrap();
    let clock = &row[row.len() - 9..row.len() - 4];
    assert_eq!(&row[..8], format!("[{clock}] "), "{screen}");
    let mut bin = common::Bin::connect(s.addr, s.dir.path());
    bin.login("luke", password("luke"));
    bin.send("RDM b 1 Jun 2022 16:00:00");
    assert!(bin.expect("#1;").starts_with("#1; yoda: for the record at"));
}

#[test]
fn no_color_means_no_colour_and_private_lines_look_their_own() {
    let s = TestServer::start();
    let t = Tmux::new();
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[("NO_COLOR", "1")]);
    let hans = t.client("hans", s.addr.port(), s.dir.path(), &[]);
    yoda.login("yoda", password("yoda"));
    hans.login("hans", password("hans"));
    yoda.line("startprivate hans");
    hans.expect("enter y or n:");
    hans.line("y");
    yoda.expect("Start private messaging with hans");
    yoda.line("private hans just us");
    let screen = hans.expect("yoda(private): just us");
    assert!(stamped(&screen, "] yoda(private): just us"), "{screen}");
    assert!(stamped(&yoda.screen(), "] yoda(private) -> hans: just us"));
    let plain = yoda.screen_with(true);
    assert!(!coloured(&plain), "{plain:?}");
}

#[test]
fn a_lockout_says_how_long_it_lasts() {
    let s = TestServer::with(|c| c.block_duration = std::time::Duration::from_secs(42));
    let t = Tmux::new();
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[]);
    yoda.expect("Username:");
    yoda.line("yoda");
    for _ in 0..3 {
        yoda.expect("Password:");
        yoda.line("not-the-password");
    }
    yoda.expect(
        "Invalid Password. Your account has been blocked. Please try again later (the lockout lasts 42 s)",
    );
    assert_eq!(yoda.exit_code(), 1);
}
