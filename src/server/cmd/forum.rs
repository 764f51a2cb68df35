//! The forum's commands (CRT MSG DLT EDT LST RDT UPD DWN RMV SHT) on top of the forum
//! store (`forum.rs`), and the streaming of uploads and downloads over the client's own
//! connection as binary frames.
//!
//! Transfers stream in bounded memory: an upload is written to a temporary file frame by
//! frame; a download reads the file in 64 KiB chunks into the connection's outbox as a
//! stream (`Conn::stream`), waiting while more than a few chunks are queued, so neither
//! side ever holds a whole file.

use super::forum::ForumError;
use super::secure::Wire;
use super::session::Session;
use super::state::{Reply, State};
use crate::protocol::{self, ClientMsg, FrameError, Then, MAX_CHUNK};
use crate::text;
use std::io::{BufReader, Read};
use std::time::{Duration, Instant};

/// How often a running transfer restarts its user's idle clock.
const KEEP_ALIVE: Duration = Duration::from_millis(100);

/// The user's sentence for a forum error about `title`.
fn forum_error(e: ForumError, title: &str) -> String {
    match e {
        ForumError::NoThread => format!("Thread {title} does not exist"),
        ForumError::ThreadExists => format!("Thread {title} exists"),
        ForumError::NoMessage(n) => format!("Message {n} does not exist in thread {title}"),
        ForumError::NotAuthor => text::NOT_AUTHOR_EDIT.to_string(),
        ForumError::NotCreator => text::NOT_CREATOR.to_string(),
        ForumError::FileExists => "Error. That file already exists in the thread".to_string(),
        ForumError::NoFile => format!("File does not exist in Thread {title}"),
        ForumError::BadName => text::invalid_title(title),
        ForumError::TooLarge => "Error. The file is larger than the server accepts".to_string(),
        ForumError::Io(e) => {
            log::error!("forum I/O error: {e}");
            "Error. The server could not complete that, try again".to_string()
        }
    }
}

/// The user's sentence for an upload or download error: names the file where it is at fault.
fn transfer_error(e: ForumError, title: &str, file: &str, session: &Session) -> String {
    match e {
        ForumError::BadName if crate::names::valid_name(title) => text::invalid_file_name(file),
        ForumError::FileExists => format!("Error. {file} already exists in thread {title}"),
        ForumError::TooLarge => text::too_large(file, session.state.config().max_upload),
        e => forum_error(e, title),
    }
}

impl State {
    fn forum_reply(&self, res: Result<String, ForumError>, title: &str) -> Reply {
        match res {
            Ok(line) => {
                self.announce(&line);
                Reply::line(line)
            }
            Err(e) => Reply::err(forum_error(e, title)),
        }
    }

    pub fn crt(&self, user: &str, title: &str) -> Reply {
        let res = self.store().forum().create(title, user);
        let res = res.map(|()| format!("Thread {title} created"));
        self.forum_reply(res, title)
    }

    pub fn msg(&self, user: &str, title: &str, body: &str) -> Reply {
        let body = super::messaging::clean(body);
        let res = self.store().forum().post(title, user, &body);
        self.forum_reply(
            res.map(|_| format!("Message posted to {title} thread")),
            title,
        )
    }

    pub fn dlt(&self, user: &str, title: &str, n: u64) -> Reply {
        match self.store().forum().delete(title, n, user) {
            Err(ForumError::NotAuthor) => Reply::err(text::NOT_AUTHOR_DELETE),
            res => self.forum_reply(res.map(|()| text::MESSAGE_DELETED.to_string()), title),
        }
    }

    pub fn edt(&self, user: &str, title: &str, n: u64, body: &str) -> Reply {
        let body = super::messaging::clean(body);
        let res = self.store().forum().edit(title, n, user, &body);
        self.forum_reply(res.map(|()| text::MESSAGE_EDITED.to_string()), title)
    }

    pub fn lst(&self) -> Reply {
        let titles = match self.store().forum().list() {
            Ok(titles) => titles,
            Err(e) => return Reply::err(forum_error(e, "")),
        };
        if titles.is_empty() {
            return Reply::line(text::NO_THREADS);
        }
        let mut lines = vec![text::THREAD_LIST.to_string()];
        lines.extend(titles);
        Reply::ok(lines)
    }

    pub fn rdt(&self, title: &str) -> Reply {
        match self.store().forum().read(title) {
            Ok(lines) => {
                self.announce(&format!("Thread {title} read"));
                match lines.is_empty() {
                    true => Reply::line(format!("Thread {title} is empty")),
                    false => Reply::ok(lines),
                }
            }
            Err(e) => Reply::err(forum_error(e, title)),
        }
    }

    pub fn rmv(&self, user: &str, title: &str) -> Reply {
        let res = self.store().forum().remove(title, user);
        match res {
            Ok(()) => {
                self.announce(&format!("Thread {title} removed"));
                Reply::line(text::THREAD_REMOVED)
            }
            Err(e) => Reply::err(forum_error(e, title)),
        }
    }

    /// `SHT PASSWORD`: every client is told and the server exits.
    pub fn sht(&self, password: &str) -> Reply {
        let Some(admin) = &self.config().admin_password else {
            return Reply::err(text::SHUTDOWN_DISABLED);
        };
        if !super::accounts::verify(admin, password) {
            self.announce(text::INCORRECT_PASSWORD);
            return Reply::err(text::INCORRECT_PASSWORD);
        }
        if self.config().wipe_forum_on_shutdown {
            if let Err(e) = self.store().forum().wipe() {
                log::error!("cannot wipe the forum: {e}");
            }
        }
        self.announce("Server shutting down");
        if let Some(node) = self.node() {
            let from = node.name.clone();
            self.publish(&super::node::BusMsg::Shutdown { from });
        }
        self.shutdown();
        Reply::ok(vec![])
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
        self.state.announce(&format!("{user} issued UPD command"));
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
            self.state
                .announce(&format!("{user} uploaded file {file} to {title} thread"));
            format!("{file} uploaded to {title} thread")
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
        self.phase = super::session::Phase::Closing;
    }

    /// `DWN`: announces the size, then streams the file as frames through the writer.
    pub(super) fn download(&mut self, id: u64, user: &str, title: &str, file: &str) {
        self.state.announce(&format!("{user} issued DWN command"));
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
            .announce(&format!("{file} downloaded from Thread {title} by {user}"));
    }
}
