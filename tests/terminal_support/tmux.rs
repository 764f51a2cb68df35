//! A real terminal for the client: a private tmux server (its own socket, no user
//! configuration) runs `chinwag` in a pane; tests type into it with `send-keys` and read
//! the screen with `capture-pane`, polling against a deadline. Dropping the [`Tmux`]
//! kills its server, and with it every process it started.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long one expectation may wait for the screen.
pub const WAIT: Duration = Duration::from_secs(10);

static NEXT: AtomicU32 = AtomicU32::new(0);

/// One tmux server, and a home directory for the clients it runs.
pub struct Tmux {
    socket: String,
    pub home: tempfile::TempDir,
}

impl Tmux {
    pub fn new() -> Tmux {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Tmux {
            socket: format!("chinwag-test-{}-{n}", std::process::id()),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs (apt-get install tmux)")
    }

    /// The history file clients of this server use.
    pub fn history(&self) -> PathBuf {
        self.home.path().join("xdg/chinwag/history")
    }

    /// Starts `chinwag 127.0.0.1 PORT` in a new pane named `name`, working in `cwd`,
    /// with `env` added; after the client exits the pane shows `CLIENT_RC=<code>`.
    pub fn client(&self, name: &str, port: u16, cwd: &Path, env: &[(&str, &str)]) -> Pane<'_> {
        let bin = env!("CARGO_BIN_EXE_chinwag");
        let home = self.home.path().display().to_string();
        let mut vars = vec![format!("HOME={home}"), format!("XDG_DATA_HOME={home}/xdg")];
        vars.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        let script = format!(
            "cd {} && env {} {bin} 127.0.0.1 {port}; echo CLIENT_RC=$?; sleep 600",
            cwd.display(),
            vars.join(" ")
        );
        let out = self.tmux(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "120",
            "-y",
            "40",
            &script,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        Pane {
            tmux: self,
            name: name.to_string(),
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// One pane running a client.
pub struct Pane<'a> {
    tmux: &'a Tmux,
    name: String,
}

/// A failing test shows every pane's screen: what the user saw explains most failures.
impl Drop for Pane<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {}'s screen ---\n{}", self.name, self.screen());
        }
    }
}

impl Pane<'_> {
    /// Sends keys by tmux name (`Enter`, `C-c`, `Tab`, `Up`) or as words.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.name];
        args.extend_from_slice(keys);
        assert!(self.tmux.tmux(&args).status.success());
    }

    /// Types `text` literally (newlines become Enter, as a paste without brackets does).
    pub fn type_text(&self, text: &str) {
        let text = text.replace('\n', "\r");
        let args = ["send-keys", "-t", &self.name, "-l", &text];
        assert!(self.tmux.tmux(&args).status.success());
    }

    /// Types `line` and presses Enter.
    pub fn line(&self, line: &str) {
        self.type_text(line);
        self.keys(&["Enter"]);
    }

    /// The whole screen and scrollback, as text (`escapes`: with colours).
    pub fn screen_with(&self, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-J", "-S", "-", "-t", &self.name];
        if escapes {
            args.push("-e");
        }
        String::from_utf8_lossy(&self.tmux.tmux(&args).stdout).into_owned()
    }

    pub fn screen(&self) -> String {
        self.screen_with(false)
    }

    /// Polls the screen until `ok` holds; returns it, or fails showing it.
    pub fn until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{}: timed out waiting for {what}; screen:\n{screen}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until a line of the screen contains `want`.
    pub fn expect(&self, want: &str) -> String {
        self.until(want, |s| s.lines().any(|l| l.contains(want)))
    }

    /// Waits until `want` appears `n` times on the screen.
    pub fn expect_n(&self, want: &str, n: usize) -> String {
        self.until(&format!("{n} x {want}"), |s| s.matches(want).count() >= n)
    }

    /// Logs in as `user` with `pw` and waits for the welcome.
    pub fn login(&self, user: &str, pw: &str) {
        self.expect("Username:");
        self.line(user);
        self.expect("Password:");
        self.line(pw);
        self.expect("Welcome to chinwag!");
        self.expect(&format!("{user}> "));
    }

    /// The client's process id: the pane's shell runs it as its one child (`env` execs it).
    pub fn client_pid(&self) -> u32 {
        let out = self
            .tmux
            .tmux(&["display-message", "-p", "-t", &self.name, "#{pane_pid}"]);
        let shell = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .expect("the pane's shell has a children list");
        let pid = children.split_whitespace().next().expect("the client runs");
        pid.parse().expect("a pid")
    }

    /// Waits for the client to exit; returns its exit code.
    pub fn exit_code(&self) -> i32 {
        let screen = self.expect("CLIENT_RC=");
        let rc = screen.split("CLIENT_RC=").nth(1).unwrap_or("");
        rc.trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|d| d.parse().ok())
            .unwrap_or(-1)
    }
}
