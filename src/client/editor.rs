//! The line editor on a terminal: one thread owns rustyline for the whole run (see
//! `input`). Its helper completes command names and online users on Tab, masks a
//! password as it is typed (nothing shown, the cursor hidden), and notes whether the
//! line being typed is empty, so that an exit can leave the terminal tidy: the dangling
//! prompt erased, or a half-typed line kept with a newline after it.
//!
//! Ctrl-C clears the line being typed; on an empty line it ends the input (the main loop
//! logs out), as Ctrl-D does. History lives in `$XDG_DATA_HOME/chinwag/history` and only
//! ever holds command lines, never a login answer.

use super::commands::USAGE;
use super::input::Ask;
use super::output::Printer;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use rustyline::completion::Completer;
use rustyline::config::Configurer;
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Cmd, ColorMode, ConditionalEventHandler, Editor, Event, EventContext};
use rustyline::{EventHandler, KeyEvent, Movement, RepeatCount};
use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// What the editor thread shares with the rest of the client.
#[derive(Default)]
pub struct Editing {
    /// Inside `readline` now (a prompt is on screen).
    active: AtomicBool,
    /// The line being typed has text.
    typed: AtomicBool,
    /// A password is being typed: show nothing.
    masking: AtomicBool,
    /// Online users, for Tab.
    users: Mutex<Vec<String>>,
}

impl Editing {
    pub fn new() -> Arc<Editing> {
        Arc::new(Editing::default())
    }

    /// `user` is online (a presence notice or a listing named them).
    pub fn user_online(&self, user: &str) {
        let mut users = self.users.lock();
        if !users.iter().any(|u| u == user) {
            users.push(user.to_string());
            users.sort();
        }
    }

    pub fn user_offline(&self, user: &str) {
        self.users.lock().retain(|u| u != user);
    }
}

/// The editor of this process, for [`restore_terminal`].
static EDITING: OnceLock<Arc<Editing>> = OnceLock::new();

/// Before the process exits: leaves the cursor at the start of a line of its own (the
/// shell's prompt must not be glued to ours) and the terminal in its normal mode.
pub fn restore_terminal() {
    let Some(ed) = EDITING.get() else {
        return;
    };
    let mut out = std::io::stdout().lock();
    if ed.active.load(Ordering::SeqCst) {
        // An empty prompt is erased; a half-typed line stays, ended by a newline.
        let end = match ed.typed.load(Ordering::SeqCst) {
            true => "\x1b[?25h\n",
            false => "\x1b[?25h\r\x1b[2K",
        };
        let _ = out.write_all(end.as_bytes());
    }
    let _ = out.flush();
    let _ = std::process::Command::new("stty").arg("sane").status();
}

/// Starts the editor thread; `None` if this terminal cannot be driven (TERM=dumb).
pub(crate) fn spawn(
    printer: &Printer,
    editing: Arc<Editing>,
    tx: Sender<Option<String>>,
) -> Option<Sender<Ask>> {
    if matches!(std::env::var("TERM").as_deref(), Ok("dumb") | Ok("")) {
        return None;
    }
    let config = rustyline::Config::builder()
        .bracketed_paste(false)
        .auto_add_history(false)
        .max_history_size(5000)
        .ok()?
        .build();
    let mut ed: Editor<Helper, FileHistory> = Editor::with_config(config).ok()?;
    ed.set_helper(Some(Helper(editing.clone())));
    let ctrl_c = EventHandler::Conditional(Box::new(CtrlC));
    ed.bind_sequence(KeyEvent::ctrl('C'), ctrl_c);
    let p = ed.create_external_printer().ok()?;
    printer.set_editor(Box::new(p));
    let history = history_path();
    let _ = EDITING.set(editing.clone());
    let (asks_tx, asks) = crossbeam_channel::unbounded();
    let printer = printer.clone();
    std::thread::Builder::new()
        .name("line-editor".into())
        .spawn(move || {
            let mut thread = Thread {
                ed,
                printer,
                editing,
                history,
                tx,
            };
            thread.run(asks)
        })
        .ok()?;
    Some(asks_tx)
}

/// `$XDG_DATA_HOME/chinwag/history`, by default `~/.local/share/chinwag/history`.
fn history_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("chinwag").join("history"))
}

struct Thread {
    ed: Editor<Helper, FileHistory>,
    printer: Printer,
    editing: Arc<Editing>,
    history: Option<PathBuf>,
    tx: Sender<Option<String>>,
}

impl Thread {
    fn run(&mut self, asks: Receiver<Ask>) {
        for ask in asks {
            match ask {
                Ask::Once { prompt, secret } => {
                    let line = self.read_secret(&prompt, secret);
                    let end = line.is_none();
                    if self.tx.send(line).is_err() || end {
                        return;
                    }
                }
                Ask::Commands { prompt } => return self.commands(&prompt),
            }
        }
    }

    fn read_secret(&mut self, prompt: &str, secret: bool) -> Option<String> {
        if !secret {
            return self.readline(prompt);
        }
        self.editing.masking.store(true, Ordering::SeqCst);
        self.ed.set_color_mode(ColorMode::Forced);
        let cursor = self.ed.set_cursor_visibility(false).ok().flatten();
        let line = self.readline(prompt);
        drop(cursor);
        self.ed.set_color_mode(ColorMode::Enabled);
        self.editing.masking.store(false, Ordering::SeqCst);
        line
    }

    /// Reads command lines back to back until the input ends; a pasted block that came
    /// as one line (the terminal bracketed it after all) runs line by line.
    fn commands(&mut self, prompt: &str) {
        // Loaded only now, so Up at a login prompt recalls nothing.
        if let Some(h) = &self.history {
            let _ = self.ed.load_history(h);
        }
        loop {
            let Some(line) = self.readline(prompt) else {
                let _ = self.tx.send(None);
                return;
            };
            for part in line.split(['\n', '\r']) {
                if part.trim().is_empty() {
                    continue;
                }
                self.remember(part);
                if self.tx.send(Some(part.to_string())).is_err() {
                    return;
                }
            }
        }
    }

    fn remember(&mut self, line: &str) {
        if self.ed.add_history_entry(line).unwrap_or(false) {
            if let Some(path) = &self.history {
                save_history(&mut self.ed, path);
            }
        }
    }

    fn readline(&mut self, prompt: &str) -> Option<String> {
        self.editing.typed.store(false, Ordering::SeqCst);
        self.editing.active.store(true, Ordering::SeqCst);
        self.printer.set_editing(true);
        let res = self.ed.readline(prompt);
        self.printer.set_editing(false);
        self.editing.active.store(false, Ordering::SeqCst);
        match res {
            Ok(line) => Some(line),
            Err(ReadlineError::Interrupted) | Err(ReadlineError::Eof) => None,
            Err(e) => {
                // Straight to stdout: this thread never waits for the printer's lock.
                println!("Error. Cannot read the terminal: {e}");
                None
            }
        }
    }
}

/// Appends the new entry to the history file (made readable by the user only: commands
/// may hold private messages).
fn save_history(ed: &mut Editor<Helper, FileHistory>, path: &std::path::Path) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if ed.append_history(path).is_ok() {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

/// Ctrl-C: clear the line; on an empty line, end the input.
struct CtrlC;

impl ConditionalEventHandler for CtrlC {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        if ctx.line().is_empty() {
            Some(Cmd::Interrupt)
        } else {
            Some(Cmd::Kill(Movement::WholeBuffer))
        }
    }
}

struct Helper(Arc<Editing>);

impl rustyline::Helper for Helper {}

impl Validator for Helper {}

impl Completer for Helper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let start = before.rfind(' ').map_or(0, |i| i + 1);
        let word = &before[start..];
        let names: Vec<String> = if start == 0 {
            USAGE.iter().map(|(name, _)| name.to_string()).collect()
        } else {
            self.0.users.lock().clone()
        };
        let mut found: Vec<String> = names.into_iter().filter(|n| n.starts_with(word)).collect();
        found.dedup();
        Ok((start, found))
    }
}

impl Hinter for Helper {
    type Hint = String;

    /// Called on every edit: only notes whether the line has text.
    fn hint(&self, line: &str, _: usize, _: &rustyline::Context<'_>) -> Option<String> {
        self.0.typed.store(!line.is_empty(), Ordering::SeqCst);
        None
    }
}

impl Highlighter for Helper {
    fn highlight<'l>(&self, line: &'l str, _: usize) -> Cow<'l, str> {
        if self.0.masking.load(Ordering::SeqCst) {
            // Blanks as wide as the line: rustyline places the cursor by the real width.
            Cow::Owned(" ".repeat(line.chars().count()))
        } else {
            Cow::Borrowed(line)
        }
    }

    fn highlight_char(&self, _: &str, _: usize, kind: CmdKind) -> bool {
        kind != CmdKind::MoveCursor && self.0.masking.load(Ordering::SeqCst)
    }
}
