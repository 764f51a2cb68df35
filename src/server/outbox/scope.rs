//! The write-through scope: lines a thread queues inside it are written by that thread
//! when the scope ends, with one send per connection carrying all of them.

use super::{Conn, Status};
use std::cell::RefCell;
use std::collections::HashSet;

/// TLS connections a scope must have written to share their writing with the flusher.
const SHARE_AT: usize = 32;

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
        let (tls, plain): (Vec<Conn>, Vec<Conn>) = conns
            .into_iter()
            .filter(|c| done.insert(c.key()))
            .partition(|c| c.tls().is_some());
        // Each TLS copy is encrypted on its own (about 1.3 µs a delivery): a broadcast's
        // are shared with the flusher, which takes them from the front while this thread
        // takes them from the back, so the two cores encrypt it.
        let share = tls.len() >= SHARE_AT;
        if share {
            tls.iter().for_each(Conn::hand);
        }
        for conn in plain.iter().chain(tls.iter().rev()) {
            if conn.write(super::By::Sender) == Status::More {
                conn.hand();
            }
        }
    }
}
