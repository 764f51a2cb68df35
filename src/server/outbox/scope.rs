//! The write-through scope: lines a thread queues inside it are written by that thread
//! when the scope ends, with one send per connection carrying all of them.

use super::{Conn, Status};
use std::cell::RefCell;
use std::collections::HashSet;

thread_local! {
    /// Connections that lines were queued for inside this thread's [`WriteThrough`] scope.
    static DEFERRED: RefCell<Option<Vec<Conn>>> = const { RefCell::new(None) };
}

/// A scope in which lines this thread queues are written by this thread when the scope
/// ends, instead of by the flusher (see the module docs). Open it only where nothing in
/// the scope waits for a client to read what was queued, and drop it only with no state
/// lock held.
pub struct WriteThrough(());

impl WriteThrough {
    pub fn begin() -> WriteThrough {
        DEFERRED.with_borrow_mut(|d| {
            d.get_or_insert_with(Vec::new);
        });
        WriteThrough(())
    }
}

/// Notes `conn` for the end of this thread's scope; false if no scope is open.
pub(super) fn defer(conn: &Conn) -> bool {
    DEFERRED
        .with_borrow_mut(|d| d.as_mut().map(|conns| conns.push(conn.clone())))
        .is_some()
}

impl Drop for WriteThrough {
    /// Runs on unwinding too, so a panicking handler strands nobody's lines.
    fn drop(&mut self) {
        let conns = DEFERRED.with_borrow_mut(Option::take).unwrap_or_default();
        // A connection sent several lines in the scope is listed once per line.
        let mut done = HashSet::new();
        for conn in conns {
            if done.insert(conn.key()) && conn.write(super::By::Sender) == Status::More {
                conn.hand();
            }
        }
    }
}
