//! The progress bar of a UDP upload, on a terminal only.
//!
//! indicatif does the bookkeeping and rendering (bar, percentage, rate, ETA, redraw
//! rate limit); instead of writing to the terminal itself, which would fight the line
//! editor over the cursor, it draws into [`BarSink`], which hands each rendered line to
//! the [`Printer`]'s bar block (see `output`). In scripted mode (standard output not a
//! terminal) there is no bar at all and the upload prints only its outcome line.

use super::output::Printer;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use parking_lot::Mutex;
use std::io::{self, IsTerminal};
use std::sync::atomic::{AtomicU64, Ordering};

/// Redraws per second at most: each one goes through the line editor.
const REDRAW_HZ: u8 = 4;
/// Longest shown file and user name in the bar's label.
const LABEL_MAX: usize = 24;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One upload's progress: a bar on a terminal, nothing otherwise.
pub struct Progress {
    printer: Printer,
    bar: Option<(u64, ProgressBar)>,
}

impl Progress {
    /// Starts a bar for sending `file` (`size` bytes) to `user` if standard output is a
    /// terminal.
    pub fn start(printer: &Printer, file: &str, user: &str, size: u64) -> Progress {
        let bar = std::io::stdout()
            .is_terminal()
            .then(|| new_bar(printer, format!("{} -> {}", clip(file), clip(user)), size));
        Progress {
            printer: printer.clone(),
            bar,
        }
    }

    /// Starts a bar for receiving `file` (`size` bytes) from `from` (only call this on a
    /// terminal).
    pub fn receiving(printer: &Printer, file: &str, from: &str, size: u64) -> Progress {
        let label = format!("{} <- {}", clip(file), clip(from));
        Progress {
            printer: printer.clone(),
            bar: Some(new_bar(printer, label, size)),
        }
    }

    /// `done` of `total` bytes are acknowledged by the audience.
    pub fn update(&self, done: u64, total: u64) {
        if let Some((_, bar)) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    }

    /// Removes the bar and prints the outcome in its place.
    pub fn finish(self, line: &str) {
        match self.bar {
            Some((id, bar)) => {
                bar.finish_and_clear();
                self.printer.bar_done(id, line);
            }
            None => self.printer.line(line),
        }
    }
}

fn new_bar(printer: &Printer, label: String, size: u64) -> (u64, ProgressBar) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let sink = BarSink {
        printer: printer.clone(),
        id,
        width: terminal_width(),
        buf: Mutex::new(String::new()),
    };
    let target = ProgressDrawTarget::term_like_with_hz(Box::new(sink), REDRAW_HZ);
    let style = ProgressStyle::with_template(
        "{prefix} [{bar:20}] {percent:>3}% {binary_bytes_per_sec} ETA {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::with_draw_target(Some(size), target)
        .with_style(style)
        .with_prefix(label);
    bar.tick();
    (id, bar)
}

fn clip(s: &str) -> String {
    if s.chars().count() <= LABEL_MAX {
        return s.to_string();
    }
    let head: String = s.chars().take(LABEL_MAX - 3).collect();
    format!("{head}...")
}

/// Columns of the terminal as the shell exports them, else 80.
fn terminal_width() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|&c| c >= 20)
        .unwrap_or(80)
}

/// indicatif's terminal: collects one rendered frame and passes it to the printer's bar
/// block on `flush`. Cursor movements are the printer's business, so they are ignored.
struct BarSink {
    printer: Printer,
    id: u64,
    width: u16,
    buf: Mutex<String>,
}

impl std::fmt::Debug for BarSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BarSink").field("id", &self.id).finish()
    }
}

impl TermLike for BarSink {
    fn width(&self) -> u16 {
        self.width
    }
    fn move_cursor_up(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        self.write_str(s)
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        self.buf.lock().push_str(s);
        Ok(())
    }
    fn clear_line(&self) -> io::Result<()> {
        Ok(())
    }
    /// One frame is complete. An empty frame (the bar being cleared) is left to
    /// [`Progress::finish`], which replaces the bar with the outcome line.
    fn flush(&self) -> io::Result<()> {
        let frame = std::mem::take(&mut *self.buf.lock());
        let line: String = frame
            .trim_end()
            .chars()
            .take(self.width.saturating_sub(1) as usize)
            .collect();
        if !line.is_empty() {
            self.printer.bar(self.id, &line);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_clipped() {
        assert_eq!(clip("f.bin"), "f.bin");
        let long = "x".repeat(40);
        assert_eq!(clip(&long).chars().count(), LABEL_MAX);
    }
}
