//! The forum's file commands on the client: `UPD` streams a local file to the server
//! once it agrees, `DWN` refuses to overwrite a local file and lets the reader thread
//! save the frames; and the check that a name is a safe file in the working directory.

use super::output::Printer;
use super::Client;
use crate::protocol::{Command, Response, Then};
use crate::text;
use std::path::{Path, PathBuf};

impl Client {
    /// `UPD TITLE FILE`: local checks, then the frames once the server agrees.
    pub(super) fn upload(&mut self, title: String, file: String) -> Option<i32> {
        let path = local_file(&self.printer, &file)?;
        let Ok(mut f) = std::fs::File::open(&path) else {
            self.printer.line(&text::does_not_exist(&file));
            return None;
        };
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let id = self.link.send(Command::Upd { title, file, size }).ok()?;
        let resp = self.link.wait(id);
        if let Some(Response {
            then: Then::SendData,
            ..
        }) = resp
        {
            if let Err(e) = self.link.send_file_frames(&mut f) {
                self.printer.line(&format!("Error. Upload failed: {e}"));
                return Some(self.finish(None));
            }
            return self.finish_or_continue(self.link.wait(id));
        }
        self.finish_or_continue(resp)
    }

    /// `DWN TITLE FILE`: refuses to overwrite a local file; the reader thread saves it.
    pub(super) fn download(&mut self, title: String, file: String) -> Option<i32> {
        if !crate::names::valid_name(&file) {
            self.printer.line(&text::invalid_file_name(&file));
            return None;
        }
        let path = PathBuf::from(&file);
        if path.exists() {
            self.printer
                .line(&format!("Error. {file} already exists locally"));
            return None;
        }
        *self.link.shared.download.lock() = Some(path);
        let resp = self.link.call(Command::Dwn { title, file });
        self.link.shared.download.lock().take();
        self.finish_or_continue(resp)
    }
}

/// A file in the working directory named by a safe one-word name, or the error printed.
pub(super) fn local_file(printer: &Printer, file: &str) -> Option<PathBuf> {
    if !crate::names::valid_name(file) {
        printer.line(&text::invalid_file_name(file));
        return None;
    }
    let path = Path::new(file);
    if !path.is_file() {
        printer.line(&text::does_not_exist(file));
        return None;
    }
    Some(path.to_path_buf())
}
