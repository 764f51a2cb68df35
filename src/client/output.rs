//! Where the client's lines go. In a terminal, lines that arrive while the user is typing
//! are printed above the line being edited (rustyline's external printer), so nothing is
//! mangled and no Enter is needed; otherwise (a script, a pipe, or between prompts) they
//! go straight to stdout, flushed at once so a script sees each line as it is printed.

use parking_lot::Mutex;
use rustyline::ExternalPrinter;
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

    /// Marks whether the main thread is inside `readline` right now.
    pub fn set_editing(&self, editing: bool) {
        self.0.lock().editing = editing;
    }

    /// Prints one line.
    pub fn line(&self, text: &str) {
        let mut sink = self.0.lock();
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
        if let (true, Some(p)) = (sink.editing, sink.editor.as_mut()) {
            if p.print(format!("{text}\n")).is_ok() {
                return;
            }
        }
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{text}");
        let _ = out.flush();
    }
}
