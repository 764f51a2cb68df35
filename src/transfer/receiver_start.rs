//! The audience's answer to a START: a repeat gets the answer it had, a token is
//! admitted once, and an upload is refused (name mismatch, too many at once, cannot
//! save) or opened.

use super::*;

impl Worker {
    pub(super) fn on_start(
        &mut self,
        from: SocketAddr,
        sid: u32,
        size: u64,
        chunk: u16,
        token: &str,
        name: &str,
    ) {
        if self.sessions.contains_key(&(from, sid)) {
            return self.answer_again(from, sid);
        }
        if !self.sock.seals.as_ref().is_none_or(|s| s.admits(token)) {
            return; // a sealed token in a plain START, or under another key
        }
        let Some((user, file)) = self.expected.lock().remove(token) else {
            return; // unknown or used token: stay silent
        };
        let open = self.sessions.values().filter(|s| s.is_open()).count();
        let refuse = if name != file || !valid_file_name(name) || !valid_file_name(&user) {
            Some((wire::ABORT_REFUSED, "file name mismatch".to_string()))
        } else if open >= MAX_INCOMING {
            Some((wire::ABORT_BUSY, "receiving too many files".into()))
        } else {
            let dir = self.dir.clone();
            let st = Start {
                dir: &dir,
                from: &user,
                file: &file,
                token,
                sid,
                size,
                chunk,
            };
            self.open_session(from, &st).err()
        };
        match refuse {
            None => wire::start_ack(&mut self.ctl, sid, WINDOW as u32),
            Some((code, why)) => {
                wire::abort(&mut self.ctl, sid, code, &why);
                let (file, reason) = (file, why);
                self.event(RecvEvent::Failed {
                    from: user,
                    file,
                    reason,
                });
            }
        }
        self.send_ctl(from);
    }

    /// A repeated START for a session we know: the same answer as before.
    pub(super) fn answer_again(&mut self, from: SocketAddr, sid: u32) {
        let Some(s) = self.sessions.get(&(from, sid)) else {
            return;
        };
        match &s.outcome {
            None => wire::start_ack(&mut self.ctl, sid, WINDOW as u32),
            Some((Outcome::Failed(code, why), _)) => wire::abort(&mut self.ctl, sid, *code, why),
            Some((Outcome::Saved(_), _)) => wire::fin_ack(&mut self.ctl, sid),
        }
        self.send_ctl(from);
    }

    /// Opens the file for an admitted upload; the abort to send if it cannot be saved.
    pub(super) fn open_session(
        &mut self,
        from: SocketAddr,
        st: &Start<'_>,
    ) -> Result<(), (u8, String)> {
        let s = Session::open(st).map_err(|e| (wire::ABORT_IO, format!("cannot save: {e}")))?;
        let _ = self.progress.as_ref().map(|tx| tx.send(s.progress()));
        self.sessions.insert((from, st.sid), s);
        Ok(())
    }
}
