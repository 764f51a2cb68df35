//! The guards a connection hands out: [`Hold`] keeps its lines back (a login's welcome
//! until userlog.txt lists the user), [`Stream`] keeps others' lines behind a download's
//! frames.

use super::Conn;

/// See [`Conn::hold`].
pub struct Hold<'a>(pub(super) &'a Conn);

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        let mut q = self.0 .0.q.lock();
        q.held -= 1;
        if q.held == 0 && (!q.items.is_empty() || q.close || self.0.feed_waits(&q)) {
            self.0.schedule(q);
        }
    }
}

/// See [`Conn::stream`].
pub struct Stream<'a>(pub(super) &'a Conn);

impl Stream<'_> {
    /// Queues one encoded frame, waiting for room; false if the connection is gone.
    pub fn frame(&self, frame: Vec<u8>) -> bool {
        self.0.push_waiting(frame.into(), true)
    }
}

impl Drop for Stream<'_> {
    /// Lines that waited behind the download go next.
    fn drop(&mut self) {
        let mut q = self.0 .0.q.lock();
        q.streaming = false;
        q.behind_bytes = 0;
        let mut behind = std::mem::take(&mut q.behind);
        q.items.append(&mut behind);
        if !q.items.is_empty() || q.close || self.0.feed_waits(&q) {
            self.0.schedule(q);
        }
    }
}
