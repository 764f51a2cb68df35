//! The client on a real terminal (BEHAVIOUR §1 "No input is ever lost", "On a terminal"):
//! each test drives `chinwag` in a tmux pane and reads the screen. Typed-ahead and pasted
//! lines all run, in order; the consent question is not modal; Ctrl-C clears the line
//! and on an empty line logs out; the client ends its output with a newline; passwords
//! are not shown; Tab completes; history persists without login answers. What the
//! terminal shows (times, looks, bars) is in `terminal_support/shows.rs`.

mod common;
#[path = "terminal_support/shows.rs"]
mod shows;
#[path = "terminal_support/tmux.rs"]
mod tmux;

use common::{password, Client, TestServer};
use tmux::Tmux;

/// The next text line `c` receives that is not a presence notice.
fn said(c: &mut Client) -> String {
    loop {
        let text = c.text();
        if !text.ends_with(" logged in") {
            return text;
        }
    }
}

/// Every line a pane's screen shows, trimmed at the end.
fn rows(screen: &str) -> Vec<&str> {
    screen.lines().map(str::trim_end).collect()
}

#[test]
fn lines_typed_ahead_or_pasted_all_run_in_order() {
    let s = TestServer::start();
    let t = Tmux::new();
    let mut hans = Client::login(s.addr, "hans", password("hans"));
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[]);
    yoda.login("yoda", password("yoda"));
    // One burst, faster than any reply: each line must still run.
    yoda.type_text("message hans fast A\nmessage hans fast B\nmessage hans fast C\n");
    for want in ["yoda: fast A", "yoda: fast B", "yoda: fast C"] {
        assert_eq!(said(&mut hans), want);
    }
    // A pasted block of four commands, sent in one write.
    let block = (1..=4)
        .map(|i| format!("message hans paste {i}\n"))
        .collect::<String>();
    yoda.type_text(&block);
    for i in 1..=4 {
        assert_eq!(said(&mut hans), format!("yoda: paste {i}"));
    }
    // Typed while the client waits for a slow reply (a whoelsesince over the wire).
    yoda.type_text("whoelse\nmessage hans after whoelse\n");
    assert_eq!(said(&mut hans), "yoda: after whoelse");
    yoda.expect("hans");
}

#[test]
fn pasted_blocks_all_run_while_the_echoes_are_printed() {
    // Each reply's echo is printed while the editor still reads the rest of the block:
    // the client once froze here (the printer and the editor waiting for each other).
    let s = TestServer::start();
    let t = Tmux::new();
    let mut hans = Client::login(s.addr, "hans", password("hans"));
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[]);
    yoda.login("yoda", password("yoda"));
    for round in 0..10 {
        let block = (1..=6)
            .map(|i| format!("message hans r{round} p{i}\n"))
            .collect::<String>();
        yoda.type_text(&block);
        for i in 1..=6 {
            assert_eq!(said(&mut hans), format!("yoda: r{round} p{i}"));
        }
    }
    yoda.expect("yoda -> hans: r9 p6");
}

/// TERM=dumb (Emacs's shell, a serial console): no line editor, whose escapes such a
/// terminal cannot show, but the same lossless plain lines, a hidden password and no
/// colour.
#[test]
fn a_dumb_terminal_gets_plain_lines_that_all_run_and_a_hidden_password() {
    let s = TestServer::start();
    let t = Tmux::new();
    let mut hans = Client::login(s.addr, "hans", password("hans"));
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[("TERM", "dumb")]);
    yoda.login("yoda", password("yoda"));
    let screen = yoda.screen();
    assert!(!screen.contains(password("yoda")), "{screen}");
    yoda.type_text("message hans one\nmessage hans two\nmessage hans three\n");
    for want in ["yoda: one", "yoda: two", "yoda: three"] {
        assert_eq!(said(&mut hans), want);
    }
    hans.text_cmd("message yoda back");
    yoda.expect("] hans: back");
    assert!(!shows::coloured(&yoda.screen_with(true)));
}

#[test]
fn consent_is_a_question_not_a_mode() {
    let s = TestServer::start();
    let t = Tmux::new();
    let mut luke = Client::login(s.addr, "luke", password("luke"));
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[]);
    let hans = t.client("hans", s.addr.port(), s.dir.path(), &[]);
    yoda.login("yoda", password("yoda"));
    hans.login("hans", password("hans"));
    hans.type_text("message luke half");
    yoda.line("startprivate hans");
    let question = "yoda would like to private message, enter y or n:";
    hans.expect(question);
    // The half-typed line survives the question and runs as a command.
    hans.keys(&["Enter"]);
    assert_eq!(said(&mut luke), "hans: half");
    hans.line("whoelse");
    // Asked again, on a line of its own (never overwritten by the prompt).
    let screen = hans.expect_n(question, 3);
    assert!(rows(&screen).iter().any(|l| l.starts_with(question)));
    hans.line("y");
    yoda.expect("hans accepts private messaging");
    yoda.expect("Start private messaging with hans");
    yoda.line("private hans hello there");
    hans.expect("yoda(private): hello there");
    // A second startprivate while the session is open is refused, and asks nobody.
    yoda.line("startprivate hans");
    yoda.expect("Error. Already in private messaging with hans");
    hans.line("private yoda y");
    yoda.expect("hans(private): y");
    assert_eq!(hans.screen().matches(question).count(), 3);
}

#[test]
fn ctrl_c_clears_the_line_then_logs_out_ending_with_a_newline() {
    let s = TestServer::start();
    let t = Tmux::new();
    let mut hans = Client::login(s.addr, "hans", password("hans"));
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[]);
    yoda.login("yoda", password("yoda"));
    yoda.type_text("message hans never sent");
    yoda.keys(&["C-c"]);
    yoda.until("the line cleared", |s| {
        !s.contains("never sent") && s.lines().any(|l| l.trim_end() == "yoda>")
    });
    yoda.line("message hans after ctrl-c");
    assert_eq!(said(&mut hans), "yoda: after ctrl-c");
    yoda.keys(&["C-c"]);
    assert_eq!(yoda.exit_code(), 0);
    assert_eq!(hans.text(), "yoda logged out");
    let screen = yoda.screen();
    assert!(
        rows(&screen).iter().any(|l| l.starts_with("CLIENT_RC=")),
        "the shell's output is glued to the client's:\n{screen}"
    );
}

#[test]
fn every_exit_ends_on_a_line_of_its_own() {
    let s = TestServer::start();
    let t = Tmux::new();
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[]);
    yoda.login("yoda", password("yoda"));
    yoda.type_text("half typed when server dies");
    s.state.shutdown();
    assert_eq!(yoda.exit_code(), 0);
    let screen = yoda.screen();
    let rows = rows(&screen);
    assert!(rows.contains(&"Goodbye. Server shutting down"), "{screen}");
    assert!(
        rows.iter().any(|l| l.starts_with("CLIENT_RC=0")),
        "{screen}"
    );
}

#[test]
fn sigterm_and_sighup_exit_0_with_the_shell_on_a_line_of_its_own() {
    let s = TestServer::start();
    let t = Tmux::new();
    for (name, signal) in [("yoda", "-TERM"), ("hans", "-HUP")] {
        let pane = t.client(name, s.addr.port(), s.dir.path(), &[]);
        pane.login(name, password(name));
        pane.type_text("half typed when killed");
        let pid = pane.client_pid().to_string();
        let killed = std::process::Command::new("kill")
            .args([signal, &pid])
            .status();
        assert!(killed.expect("kill runs").success());
        assert_eq!(pane.exit_code(), 0, "{signal}");
        let screen = pane.screen();
        assert!(
            rows(&screen).iter().any(|l| l.starts_with("CLIENT_RC=0")),
            "{signal}: the shell's output is glued to the client's:\n{screen}"
        );
    }
}

#[test]
fn passwords_are_not_shown_and_history_keeps_only_commands() {
    let s = TestServer::start();
    let t = Tmux::new();
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[]);
    yoda.login("yoda", password("yoda"));
    assert!(!yoda.screen().contains(password("yoda")));
    yoda.line("whoelse");
    yoda.expect("No other users online");
    yoda.line("logout");
    assert_eq!(yoda.exit_code(), 0);
    let history = std::fs::read_to_string(t.history()).unwrap();
    assert!(history.contains("whoelse"), "{history}");
    assert!(!history.contains(password("yoda")) && !history.contains("\nyoda\n"));
    // The next run recalls it with Up (and not the login name at the first prompt).
    let again = t.client("again", s.addr.port(), s.dir.path(), &[]);
    again.expect("Username:");
    again.keys(&["Up"]);
    again.line("yoda");
    again.line(password("yoda"));
    again.expect("yoda> ");
    again.keys(&["Up", "Up"]);
    again.expect("yoda> whoelse");
}

#[test]
fn tab_completes_commands_and_online_users() {
    let s = TestServer::start();
    let t = Tmux::new();
    let _hans = Client::login(s.addr, "hans", password("hans"));
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[]);
    yoda.login("yoda", password("yoda"));
    let _leia = Client::login(s.addr, "leia", password("leia"));
    yoda.expect("leia logged in");
    yoda.type_text("whoelses");
    yoda.keys(&["Tab"]);
    yoda.expect("yoda> whoelsesince");
    yoda.keys(&["C-u"]);
    yoda.type_text("message ha");
    yoda.keys(&["Tab"]);
    yoda.expect("yoda> message hans");
    yoda.type_text("hi");
    yoda.keys(&["C-u"]);
    yoda.type_text("message le");
    yoda.keys(&["Tab"]);
    yoda.expect("yoda> message leia");
}

#[test]
fn a_request_whose_asker_left_or_stopped_is_withdrawn() {
    let s = TestServer::start();
    let t = Tmux::new();
    let hans = t.client("hans", s.addr.port(), s.dir.path(), &[]);
    hans.login("hans", password("hans"));
    let mut yoda = Client::login(s.addr, "yoda", password("yoda"));
    let question = "yoda would like to private message, enter y or n:";
    // Asked, then the asker stops asking.
    yoda.text_cmd("startprivate hans");
    hans.expect(question);
    let lines = yoda.call(chinwag::protocol::Command::PrivateWithdraw {
        user: "hans".into(),
    });
    assert_eq!(lines.lines, ["Private messaging with hans stopped"]);
    hans.expect("yoda withdrew the private messaging request");
    // Asked again, then the asker logs out: withdrawn, and a later y is an ordinary line.
    yoda.text_cmd("startprivate hans");
    hans.expect_n(question, 2);
    drop(yoda);
    hans.expect_n("yoda withdrew the private messaging request", 2);
    hans.line("y");
    hans.expect("Error. Invalid command");
}

#[test]
fn stopprivate_before_the_answer_withdraws_the_request() {
    let s = TestServer::start();
    let t = Tmux::new();
    let yoda = t.client("yoda", s.addr.port(), s.dir.path(), &[]);
    let hans = t.client("hans", s.addr.port(), s.dir.path(), &[]);
    yoda.login("yoda", password("yoda"));
    hans.login("hans", password("hans"));
    yoda.line("startprivate hans");
    hans.expect("yoda would like to private message, enter y or n:");
    yoda.line("stopprivate hans");
    yoda.expect("Private messaging with hans stopped");
    hans.expect("yoda withdrew the private messaging request");
    hans.line("n");
    hans.expect("Error. Invalid command");
}
