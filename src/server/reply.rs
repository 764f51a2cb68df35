//! What a command handler answers: [`Reply`], lines for the user, what the client does
//! next, and the file to fsync before the answer may go out.

use super::syncer::SyncPoint;
use crate::protocol::Then;

/// What a command handler answers: lines for the user and what the client does next.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub ok: bool,
    pub lines: Vec<String>,
    pub then: Then,
    /// Sent only once this file is fsynced (by the syncer thread, off the request path).
    pub durable: Option<SyncPoint>,
}

impl Reply {
    pub fn ok(lines: Vec<String>) -> Reply {
        Reply {
            ok: true,
            lines,
            then: Then::Continue,
            durable: None,
        }
    }
    pub fn line(s: impl Into<String>) -> Reply {
        Reply::ok(vec![s.into()])
    }
    pub fn err(s: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            lines: vec![s.into()],
            then: Then::Continue,
            durable: None,
        }
    }
    pub fn then(mut self, then: Then) -> Reply {
        self.then = then;
        self
    }
    pub fn after_sync(mut self, file: Option<SyncPoint>) -> Reply {
        self.durable = file;
        self
    }
}
