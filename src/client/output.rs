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

use super::look::{Kind, Look};
use parking_lot::Mutex;
use rustyline::ExternalPrinter;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

/// A cloneable handle every client thread prints through.
#[derive(Clone, Default)]
pub struct Printer(Arc<Mutex<Sink>>);

#[derive(Default)]
struct Sink {
    editor: Option<Box<dyn ExternalPrinter + Send>>,
    /// True while the main thread is inside `readline`.
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
        self.0.lock().editor = Some(p);
    }

    /// Decorates chat lines from now on (terminal mode).
    pub fn set_look(&self, look: Look) {
        self.0.lock().look = Some(look);
    }

    /// A chat message: decorated on a terminal, else `plain` exactly.
    pub fn chat(&self, kind: &Kind, from: &str, text: &str, plain: &str) {
        let look = self.0.lock().look;
        match look {
            Some(look) => self.line(&look.chat(kind, from, text)),
            None => self.line(plain),
        }
    }

    /// What we sent, echoed in the same style (a terminal only).
    pub fn echo(&self, kind: &Kind, me: &str, text: &str) {
        let look = self.0.lock().look;
        if let Some(look) = look {
            self.line(&look.chat(kind, me, text));
        }
    }

    /// Marks whether the main thread is inside `readline` right now.
    pub fn set_editing(&self, editing: bool) {
        let mut sink = self.0.lock();
        sink.editing = editing;
        if !editing {
            // The typed line now sits below the block: the next draw starts afresh.
            sink.shown = 0;
        }
    }

    /// Prints one line.
    pub fn line(&self, text: &str) {
        let mut sink = self.0.lock();
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

    /// Prints several lines.
    pub fn lines(&self, lines: &[String]) {
        for l in lines {
            self.line(l);
        }
    }

    /// Prints a prompt with no newline and flushes it (scripted mode, and questions that
    /// arrive while the user is not typing).
    pub fn prompt(&self, text: &str) {
        let mut sink = self.0.lock();
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
        let mut sink = self.0.lock();
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
        let mut sink = self.0.lock();
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

    #[test]
    fn plain_lines_are_untouched_without_bars() {
        let p = Printer::plain();
        assert_eq!(p.0.lock().shown, 0);
        assert!(p.0.lock().bars.is_empty());
    }
}
