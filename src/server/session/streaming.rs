//! `UPD` and `DWN`: files streamed over the client's own connection as binary frames.
//!
//! Transfers stream in bounded memory: an upload is written to a temporary file frame by
//! frame; a download reads the file in 64 KiB chunks into the connection's outbox as a
//! stream (`Conn::stream`), waiting while more than a few chunks are queued, so neither
//! side ever holds a whole file.

use super::Session;
use crate::protocol::{self, ClientMsg, FrameError, Then, MAX_CHUNK};
use crate::server::cmd::forum::forum_error;
use crate::server::secure::Wire;
use crate::server::state::Reply;
use crate::server::store::forum::ForumError;
use crate::text;
use std::io::{BufReader, Read};
use std::time::{Duration, Instant};

/// How often a running transfer restarts its user's idle clock.
const KEEP_ALIVE: Duration = Duration::from_millis(100);

/// The user's sentence for an upload or download error: names the file where it is at fault.
fn transfer_error(e: ForumError, title: &str, file: &str, session: &Session) -> String {
    match e {
        ForumError::BadName if crate::names::valid_name(title) => text::invalid_file_name(file),
        ForumError::FileExists => text::file_exists_in(file, title),
        ForumError::TooLarge => text::too_large(file, session.state.config().max_upload),
        e => forum_error(e, title),
    }
}

impl Session {
    /// `UPD`: checks, asks for the data, streams the frames to a temporary file.
    pub(super) fn upload(
        &mut self,
        id: u64,
        user: &str,
        title: &str,
        file: &str,
        size: u64,
        reader: &mut BufReader<Wire<'_>>,
    ) {
        self.state.announce(&text::issued(user, "UPD"));
        let mut up = match self
            .state
            .store()
            .forum()
            .begin_upload(title, user, file, size)
        {
            Ok(up) => up,
            Err(e) => return self.respond(id, Reply::err(transfer_error(e, title, file, self))),
        };
        self.respond(id, Reply::ok(vec![]).then(Then::SendData));
        let mut buf = Vec::with_capacity(MAX_CHUNK);
        let mut failure = None;
        let mut touched = Instant::now();
        loop {
            match protocol::read_msg::<_, ClientMsg>(reader, &mut buf) {
                Ok(ClientMsg::Bin(h)) if h.bin == 0 => break,
                Ok(ClientMsg::Bin(h)) => {
                    if protocol::read_frame_body(reader, h.bin, &mut buf).is_err() {
                        return self.abandon("connection lost during an upload");
                    }
                    self.keep_alive(user, &mut touched);
                    if failure.is_none() {
                        failure = up.write(&buf).err();
                    }
                }
                Ok(ClientMsg::Request(_)) | Err(FrameError::Malformed(_)) => {
                    return self.abandon("a request arrived inside an upload")
                }
                Err(_) => return self.abandon("connection lost during an upload"),
            }
        }
        let res = match failure {
            Some(e) => {
                drop(up); // discard the partial file and free the name before answering
                Err(e)
            }
            None => up.finish(),
        };
        let res = res.map(|()| {
            self.state.announce(&text::upload_logged(user, file, title));
            text::uploaded(file, title)
        });
        let reply = match res {
            Ok(line) => Reply::line(line),
            Err(e) => Reply::err(transfer_error(e, title, file, self)),
        };
        self.respond(id, reply);
    }

    /// A transfer making progress is activity: restarts the idle clock, at most every
    /// [`KEEP_ALIVE`] so a flood of tiny frames cannot hammer the state lock.
    fn keep_alive(&self, user: &str, touched: &mut Instant) {
        if touched.elapsed() >= KEEP_ALIVE {
            self.state.touch(user, self.id);
            *touched = Instant::now();
        }
    }

    fn abandon(&mut self, why: &str) {
        log::info!("{}: {why}; the partial file was discarded", self.peer.addr);
        self.advance(super::phase::Step::End, &Then::Continue);
    }

    /// `DWN`: announces the size, then streams the file as frames through the writer.
    pub(super) fn download(&mut self, id: u64, user: &str, title: &str, file: &str) {
        self.state.announce(&text::issued(user, "DWN"));
        let (mut f, size) = match self.state.store().forum().open_download(title, file) {
            Ok(x) => x,
            Err(e) => return self.respond(id, Reply::err(transfer_error(e, title, file, self))),
        };
        self.respond(id, Reply::ok(vec![]).then(Then::ReceiveData { size }));
        let conn = self.conn.clone();
        let stream = conn.stream();
        let mut chunk = vec![0u8; MAX_CHUNK];
        let mut touched = Instant::now();
        loop {
            if self.state.is_shutting_down() {
                return; // ends the stream early, so the goodbye queued behind it goes out
            }
            self.keep_alive(user, &mut touched);
            let n = match f.read(&mut chunk) {
                Ok(n) => n,
                Err(e) => {
                    log::error!("reading {file} for download: {e}");
                    return self.abandon("download failed");
                }
            };
            let mut frame = Vec::with_capacity(n + 16);
            protocol::write_frame(&mut frame, &chunk[..n]).expect("writing to a Vec");
            if !stream.frame(frame) {
                return;
            }
            if n == 0 {
                break;
            }
        }
        drop(stream);
        self.state
            .announce(&text::download_logged(file, title, user));
    }
}
