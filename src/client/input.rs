//! Where typed lines come from: a line editor with history when standard input is a
//! terminal, plain lines otherwise (a script or a pipe, where prompts are still printed
//! and flushed but the `> ` command prompt is left out).

use super::output::Printer;
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;
use std::io::{BufRead, IsTerminal};

pub struct LineSource {
    editor: Option<DefaultEditor>,
    printer: Printer,
}

impl LineSource {
    /// Uses the line editor if standard input and output are terminals.
    pub fn new(printer: &Printer) -> LineSource {
        let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        let mut editor = if tty { DefaultEditor::new().ok() } else { None };
        if let Some(ed) = editor.as_mut() {
            match ed.create_external_printer() {
                Ok(p) => printer.set_editor(Box::new(p)),
                Err(_) => editor = None,
            }
        }
        LineSource {
            editor,
            printer: printer.clone(),
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.editor.is_some()
    }

    /// A login answer; secrets stay out of the history.
    pub fn read_secret_or_line(&mut self, prompt: &str, secret: bool) -> Option<String> {
        match self.editor.as_mut() {
            Some(ed) => {
                let line = readline(ed, &self.printer, prompt)?;
                if !secret {
                    let _ = ed.add_history_entry(&line);
                }
                Some(line)
            }
            None => {
                self.printer.prompt(prompt);
                read_plain()
            }
        }
    }

    /// The next command line; `None` at end of input (or Ctrl-C / Ctrl-D).
    pub fn read_command(&mut self) -> Option<String> {
        match self.editor.as_mut() {
            Some(ed) => {
                let line = readline(ed, &self.printer, "> ")?;
                if !line.trim().is_empty() {
                    let _ = ed.add_history_entry(&line);
                }
                Some(line)
            }
            None => read_plain(),
        }
    }
}

fn readline(ed: &mut DefaultEditor, printer: &Printer, prompt: &str) -> Option<String> {
    printer.set_editing(true);
    let res = ed.readline(prompt);
    printer.set_editing(false);
    match res {
        Ok(line) => Some(line),
        Err(ReadlineError::Interrupted) | Err(ReadlineError::Eof) => None,
        Err(e) => {
            printer.line(&format!("Error. Cannot read the terminal: {e}"));
            None
        }
    }
}

fn read_plain() -> Option<String> {
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_string()),
    }
}
