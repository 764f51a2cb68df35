//! What the library's tests of the state boundary share: a state on a fresh DATA_DIR
//! with given accounts, and users logged in on its roster without a socket.

use super::{Peer, State};

/// A quiet server state on a fresh temp DATA_DIR (kept while the guard lives) whose
/// credentials.txt is `credentials` (`NAME PASSWORD` lines).
pub fn state(credentials: &str) -> (tempfile::TempDir, State) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("credentials.txt"), credentials).unwrap();
    let state = State::open_quiet(dir.path());
    (dir, state)
}

/// A client at 127.0.0.1:1 listening for UDP uploads on `udp_port` (0: none).
pub fn peer(udp_port: u16) -> Peer {
    Peer {
        addr: "127.0.0.1:1".parse().unwrap(),
        udp_port,
        p2p_port: 0,
    }
}
