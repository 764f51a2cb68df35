//! The forum's commands: `CRT`, `MSG`, `DLT`, `EDT`, `LST`, `RDT`, `RMV`, on the store's
//! `ForumStore`. (`UPD` and `DWN` stream over the session: `session::streaming`.)

use crate::server::state::{Reply, State};
use crate::server::store::forum::ForumError;
use crate::text;

/// The user's sentence for a forum error about `title`.
pub(in crate::server) fn forum_error(e: ForumError, title: &str) -> String {
    match e {
        ForumError::NoThread => text::no_thread(title),
        ForumError::ThreadExists => text::thread_exists(title),
        ForumError::NoMessage(n) => text::no_message(n, title),
        ForumError::NotAuthor => text::NOT_AUTHOR_EDIT.to_string(),
        ForumError::NotCreator => text::NOT_CREATOR.to_string(),
        ForumError::FileExists => text::FILE_EXISTS.to_string(),
        ForumError::NoFile => text::no_file(title),
        ForumError::BadName => text::invalid_title(title),
        ForumError::TooLarge => text::FILE_TOO_LARGE.to_string(),
        ForumError::Io(e) => {
            log::error!("forum I/O error: {e}");
            text::COULD_NOT_COMPLETE.to_string()
        }
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
        let res = res.map(|()| text::thread_created(title));
        self.forum_reply(res, title)
    }

    pub fn msg(&self, user: &str, title: &str, body: &str) -> Reply {
        let body = super::messaging::clean(body);
        let res = self.store().forum().post(title, user, &body);
        self.forum_reply(res.map(|_| text::message_posted(title)), title)
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
                self.announce(&text::thread_read(title));
                match lines.is_empty() {
                    true => Reply::line(text::thread_empty(title)),
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
                self.announce(&text::thread_removed(title));
                Reply::line(text::THREAD_REMOVED)
            }
            Err(e) => Reply::err(forum_error(e, title)),
        }
    }
}
