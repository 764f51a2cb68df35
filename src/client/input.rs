//! Where typed lines come from. One input thread owns standard input for the whole run
//! and hands every line to the main loop over a channel, so nothing typed ahead or pasted
//! is ever lost while the main loop waits for the server or asks for consent.
//!
//! On a terminal that thread owns the line editor (rustyline, `editor`) and calls
//! `readline` back to back: rustyline keeps the bytes it has read past a line
//! (its `buffer-redux` feature), and bracketed paste is left off, so a pasted block
//! arrives as keystrokes and every line of it runs in order. Otherwise (a script, a pipe)
//! it reads plain lines; the prompts are printed by the main thread, flushed, and the
//! command prompt is left out, exactly as before.

use super::editor::{self, Editing};
use super::output::Printer;
use crossbeam_channel::{Receiver, Sender};
use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

/// What the main loop asks the terminal's input thread to read next.
pub(crate) enum Ask {
    /// One login answer with this prompt; a secret is typed without echo and never kept.
    Once { prompt: String, secret: bool },
    /// Command lines with this prompt, from now to the end.
    Commands { prompt: String },
}

pub struct LineSource {
    /// The terminal's input thread takes requests here; `None` in scripted mode.
    asks: Option<Sender<Ask>>,
    lines: Receiver<Option<String>>,
    printer: Printer,
    /// Stdin and stdout are both terminals.
    terminal: bool,
    editing: Option<Arc<Editing>>,
    commands_started: bool,
}

impl LineSource {
    /// Starts the input thread: the line editor if standard input and output are
    /// terminals (and the terminal is one rustyline drives), plain lines otherwise.
    pub fn new(printer: &Printer) -> LineSource {
        let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        let (tx, lines) = crossbeam_channel::unbounded();
        let editing = terminal.then(Editing::new);
        let asks = editing
            .as_ref()
            .and_then(|e| editor::spawn(printer, e.clone(), tx.clone()));
        let editing = asks.as_ref().and(editing);
        if asks.is_none() {
            spawn_plain(tx);
        }
        LineSource {
            asks,
            lines,
            printer: printer.clone(),
            terminal,
            editing,
            commands_started: false,
        }
    }

    /// Stdin and stdout are terminals: decorate output, echo sends, show `yoda> `.
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// The line editor's shared state (online users for Tab), if it runs.
    pub fn editing(&self) -> Option<Arc<Editing>> {
        self.editing.clone()
    }

    /// A login answer; secrets are typed without echo and stay out of the history.
    pub fn read_secret_or_line(&mut self, prompt: &str, secret: bool) -> Option<String> {
        match &self.asks {
            Some(asks) => {
                let prompt = prompt.to_string();
                asks.send(Ask::Once { prompt, secret }).ok()?;
            }
            None if secret && self.terminal => {
                return read_without_echo(&self.printer, prompt, &self.lines);
            }
            None => self.printer.prompt(prompt),
        }
        self.lines.recv().ok().flatten()
    }

    /// The next command line; `None` at end of input (Ctrl-D, or Ctrl-C on an empty line).
    pub fn read_command(&mut self, prompt: &str) -> Option<String> {
        match &self.asks {
            Some(asks) if !self.commands_started => {
                self.commands_started = true;
                let prompt = prompt.to_string();
                asks.send(Ask::Commands { prompt }).ok()?;
            }
            None if self.terminal => self.printer.prompt(prompt),
            _ => {}
        }
        self.lines.recv().ok().flatten()
    }
}

/// A terminal the line editor cannot drive (TERM=dumb): the kernel echoes, so turn echo
/// off for the password, before the prompt invites it.
fn read_without_echo(
    printer: &Printer,
    prompt: &str,
    lines: &Receiver<Option<String>>,
) -> Option<String> {
    let stty = |arg: &str| {
        let _ = std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status();
    };
    stty("-echo");
    printer.prompt(prompt);
    let line = lines.recv().ok().flatten();
    stty("echo");
    println!();
    line
}

/// Scripted mode: every line of stdin, in order, then `None` at its end.
fn spawn_plain(tx: Sender<Option<String>>) {
    let _ = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut lock = stdin.lock();
            loop {
                let mut line = String::new();
                match lock.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = line.trim_end_matches(['\n', '\r']).to_string();
                        if tx.send(Some(line)).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = tx.send(None);
        });
}
