//! Where the client's lines go. In a terminal, lines that arrive while the user is typing
//! are printed above the line being edited (rustyline's external printer), so nothing is
//! mangled and no Enter is needed; otherwise (a script, a pipe, or between prompts) they
//! go straight to stdout, flushed at once so a script sees each line as it is printed.
//!
//! On a terminal the printer also keeps a block of progress bars (UDP uploads) at the
//! bottom, just above the line being typed: each update rewrites the block in place
//! (cursor up, clear, redraw) in the same write that rustyline's external printer makes,
//! and a line printed meanwhile goes above the block, so neither mangles the other. Once
//! the user presses Enter the old block stays in the scrollback and the next update draws
//! a fresh one below. In scripted mode there are never any bars and output is unchanged.
//!
//! The line editor's thread never waits for the printer's lock: rustyline's external
//! printer blocks a printing thread (its queue holds one message) until the editor,
//! busy with typed-ahead keys, gets round to showing it, so a printing thread may hold
//! the lock for as long as the editor is busy. The editor only flips atomics here
//! ([`Printer::set_editing`]); had it waited for the lock, both would wait for ever and
//! every line typed after would be stuck.

use super::look::{Kind, Look};
use parking_lot::Mutex;
use rustyline::ExternalPrinter;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cloneable handle every client thread prints through.
#[derive(Clone, Default)]
pub struct Printer(Arc<Shared>);

#[derive(Default)]
struct Shared {
    sink: Mutex<Sink>,
    /// True while the line editor is inside `readline` (set without the lock).
    editing: AtomicBool,
    /// A typed line ended since the last print: the bar block is left behind.
    line_ended: AtomicBool,
}

#[derive(Default)]
struct Sink {
    editor: Option<Box<dyn ExternalPrinter + Send>>,
    /// True while the line editor is inside `readline` (copied from `Shared` under the lock).
    editing: bool,
    /// Progress bars by id, drawn in this order as the bottom block.
    bars: Vec<(u64, String)>,
    /// Chat lines are decorated (terminal mode).
    look: Option<Look>,
    /// How many rows of the bar block sit right above the cursor now (0: none, or the
    /// block has been left behind in the scrollback).
    shown: usize,
}

impl Printer {
    /// A printer that always writes to stdout (scripted mode, tests).
    pub fn plain() -> Printer {
        Printer::default()
    }

    /// Installs the line editor's printer (terminal mode).
    pub fn set_editor(&self, p: Box<dyn ExternalPrinter + Send>) {
        self.sink().editor = Some(p);
    }

    /// Decorates chat lines from now on (terminal mode).
    pub fn set_look(&self, look: Look) {
        self.sink().look = Some(look);
    }

    /// The sink, brought up to date with what the line editor did meanwhile.
    fn sink(&self) -> parking_lot::MutexGuard<'_, Sink> {
        let mut sink = self.0.sink.lock();
        sink.editing = self.0.editing.load(Ordering::SeqCst);
        if self.0.line_ended.swap(false, Ordering::SeqCst) {
            // The typed line now sits below the block: the next draw starts afresh.
            sink.shown = 0;
        }
        sink
    }

    /// A chat message (sent at `sent`, Unix seconds, if it is not live): decorated on a
    /// terminal, else `plain` exactly.
    pub fn chat(&self, kind: &Kind, from: &str, text: &str, plain: &str, sent: Option<i64>) {
        let look = self.sink().look;
        match look {
            Some(look) => self.line(&look.chat(kind, from, text, sent)),
            None => self.line(plain),
        }
    }

    /// What we sent, echoed in the same style (a terminal only).
    pub fn echo(&self, kind: &Kind, me: &str, text: &str) {
        let look = self.sink().look;
        if let Some(look) = look {
            self.line(&look.chat(kind, me, text, None));
        }
    }

    /// Marks whether the line editor is inside `readline` right now. Takes no lock (see
    /// the module doc): the editor thread calls it.
    pub fn set_editing(&self, editing: bool) {
        if !editing {
            self.0.line_ended.store(true, Ordering::SeqCst);
        }
        self.0.editing.store(editing, Ordering::SeqCst);
    }

    /// Prints one line.
    pub fn line(&self, text: &str) {
        let mut sink = self.sink();
        if !sink.bars.is_empty() || sink.shown > 0 {
            return sink.redraw(Some(text));
        }
        let editing = sink.editing;
        if let (true, Some(p)) = (editing, sink.editor.as_mut()) {
            if p.print(format!("{text}\n")).is_ok() {
                return;
            }
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// Prints several lines (a reply's); on a terminal, history lines with their time.
    pub fn lines(&self, lines: &[String]) {
        let look = self.sink().look;
        for l in lines {
            match look.and_then(|look| look.history(l)) {
                Some(stamped) => self.line(&stamped),
                None => self.line(l),
            }
        }
    }

    /// Prints a prompt with no newline and flushes it (scripted mode, and questions that
    /// arrive while the user is not typing).
    pub fn prompt(&self, text: &str) {
        let mut sink = self.sink();
        if sink.editing && (!sink.bars.is_empty() || sink.shown > 0) {
            return sink.redraw(Some(text));
        }
        if let (true, Some(p)) = (sink.editing, sink.editor.as_mut()) {
            if p.print(format!("{text}\n")).is_ok() {
                return;
            }
        }
        sink.shown = 0; // the cursor is left after the prompt, not below the block
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{text}");
        let _ = out.flush();
    }
}

impl Printer {
    /// Shows or updates progress bar `id` (one line, no wider than the terminal) in the
    /// bottom block. Only call this on a terminal.
    pub fn bar(&self, id: u64, text: &str) {
        let mut sink = self.sink();
        match sink.bars.iter_mut().find(|(i, _)| *i == id) {
            Some((_, t)) if t == text => return,
            Some((_, t)) => *t = text.to_string(),
            None => sink.bars.push((id, text.to_string())),
        }
        sink.redraw(None);
    }

    /// Removes bar `id` and prints `text` (its outcome) in the same redraw, so the block
    /// never shrinks and leaves no stale row.
    pub fn bar_done(&self, id: u64, text: &str) {
        let mut sink = self.sink();
        sink.bars.retain(|(i, _)| *i != id);
        if sink.bars.is_empty() && sink.shown == 0 {
            drop(sink);
            return self.line(text);
        }
        sink.redraw(Some(text));
    }
}

impl Sink {
    /// Prints `text` (if any) above the bar block and redraws the block below it.
    fn redraw(&mut self, text: Option<&str>) {
        let bars: Vec<&str> = self.bars.iter().map(|(_, b)| b.as_str()).collect();
        let out = compose(self.shown, text, &bars);
        // The block never shrinks without a line to take the freed row (`bar_done`): a
        // row left over would need a cursor move after the last newline, which the
        // external printer does not allow.
        self.shown = bars.len();
        if self.editing {
            if let Some(p) = self.editor.as_mut() {
                if p.print(out.clone()).is_ok() {
                    return;
                }
            }
        }
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}

/// The bytes that move up over the `shown` rows of the old block, then write `text` (if
/// any) and each bar on a cleared row of its own, ending at the start of the row below.
fn compose(shown: usize, text: Option<&str>, bars: &[&str]) -> String {
    let mut out = String::new();
    if shown > 0 {
        let _ = write!(out, "\x1b[{shown}A");
    }
    for row in text.into_iter().chain(bars.iter().copied()) {
        let _ = write!(out, "\r\x1b[2K{row}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_is_rewritten_in_place_and_lines_go_above_it() {
        assert_eq!(compose(0, None, &["a 10%"]), "\r\x1b[2Ka 10%\n");
        assert_eq!(compose(1, None, &["a 20%"]), "\x1b[1A\r\x1b[2Ka 20%\n");
        assert_eq!(
            compose(2, Some("hans: hi"), &["a", "b"]),
            "\x1b[2A\r\x1b[2Khans: hi\n\r\x1b[2Ka\n\r\x1b[2Kb\n"
        );
    }

    /// Shows lines as rustyline's external printer does: `print` waits until the editor
    /// takes the line (here: until the test releases it).
    struct SlowEditor {
        inside: crossbeam_channel::Sender<()>,
        release: crossbeam_channel::Receiver<()>,
    }

    impl ExternalPrinter for SlowEditor {
        fn print(&mut self, _: String) -> rustyline::Result<()> {
            let _ = self.inside.send(());
            let _ = self.release.recv();
            Ok(())
        }
    }

    #[test]
    fn the_editor_never_waits_for_a_line_stuck_in_its_own_queue() {
        let (inside, entered) = crossbeam_channel::unbounded();
        let (release, released) = crossbeam_channel::unbounded();
        let p = Printer::plain();
        p.set_editor(Box::new(SlowEditor {
            inside,
            release: released,
        }));
        p.set_editing(true);
        let echo = p.clone();
        let printing = std::thread::spawn(move || echo.line("yoda -> hans: fast A"));
        entered.recv().unwrap();
        // The editor ends the line it was reading while that print waits for it.
        let (done, ended) = crossbeam_channel::bounded(1);
        let editor = p.clone();
        std::thread::spawn(move || {
            editor.set_editing(false);
            let _ = done.send(());
        });
        let waited = ended.recv_timeout(std::time::Duration::from_secs(5));
        release.send(()).unwrap();
        printing.join().unwrap();
        assert!(
            waited.is_ok(),
            "the editor waited for the printer: deadlock"
        );
    }

    #[test]
    fn plain_lines_are_untouched_without_bars() {
        let p = Printer::plain();
        assert_eq!(p.0.sink.lock().shown, 0);
        assert!(p.0.sink.lock().bars.is_empty());
    }
}
