//! The server: binds, accepts, and runs one session per connection.
//!
//! Threads: this accept loop (the caller's thread), one timer thread, on a TLS server one
//! refuser thread (see `refuse`), the outbox's one
//! shared flusher thread, and one session thread per connection, which reads, handles
//! and writes through (see `outbox`). [`run`] returns after a shutdown (SHT, a signal,
//! or [`State::shutdown`]) once the connections have closed.

mod anywhere;
mod blocks;
pub mod capacity;
mod cmd;
pub mod config;
pub mod delivery;
mod login;
pub mod node;
mod offline;
pub mod outbox;
mod prelogin;
mod refuse;
mod reply;
mod roster;
#[cfg(test)]
mod roster_tests;
pub mod secure;
mod session;
mod since;
pub mod state;
pub mod store;
pub mod syncer;
#[cfg(test)]
pub(crate) mod testing;
pub mod throttle;
mod timer;
mod user_locks;

pub use config::{Args, Config};
pub use login::Peer;
pub use state::State;

use socket2::{Domain, Socket, Type};
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Pending connections the kernel queues for us (std's default is 128, which makes a
/// burst of a thousand connects wait seconds on SYN retries).
const BACKLOG: i32 = 4096;
/// Stack reserved for per-connection threads: RSS is what is touched (~10 KiB), but
/// virtual size stays sane with 14,000 threads. Deep enough for serde's untagged
/// decoding of a 64 KiB line nested to serde_json's depth limit (tests/hostile.rs).
pub const THREAD_STACK: usize = 128 * 1024;
/// How long a shutdown waits for clients to be told and closed.
const DRAIN: Duration = Duration::from_secs(3);

/// Binds a listener with a real backlog.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(BACKLOG)?;
    Ok(sock.into())
}

/// How often the accept loop looks at the shutdown flag. `accept` blocks with this
/// timeout (SO_RCVTIMEO on the listener), so a connection is taken the moment it
/// arrives; polling with a sleep made every connect wait half a sleep on average.
const ACCEPT_TICK: Duration = Duration::from_millis(50);

/// Serves `listener` until the state is shut down.
pub fn run(listener: TcpListener, state: State) -> std::io::Result<()> {
    listener.set_nonblocking(false)?;
    socket2::SockRef::from(&listener).set_read_timeout(Some(ACCEPT_TICK))?;
    outbox::start_flusher()?;
    let refuser = refuse::Refuser::start(state.config().tls.as_ref())?;
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let timer_state = state.clone();
    let timer = thread::Builder::new()
        .name("timer".into())
        .spawn(move || timer::run(timer_state, stop_rx))?;
    if let Some(node) = state.node() {
        node.start(state.clone()).map_err(std::io::Error::other)?;
    }
    while !state.is_shutting_down() {
        match listener.accept() {
            Ok((sock, _)) => accept(&state, sock, &refuser),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => {
                log::warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
    drop(listener);
    let deadline = Instant::now() + DRAIN;
    while state.connections() > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    refuser.stop();
    drop(stop_tx);
    let _ = timer.join();
    if let Some(node) = state.node() {
        node.stop();
    }
    Ok(())
}

/// Takes one connection: refuses it when full, else starts its threads.
fn accept(state: &State, sock: TcpStream, refuser: &refuse::Refuser) {
    let Ok(addr) = sock.peer_addr() else { return };
    let _ = sock.set_nonblocking(false);
    // Linux copies the listener's SO_RCVTIMEO (ACCEPT_TICK) into accepted sockets.
    let _ = sock.set_read_timeout(None);
    let _ = sock.set_nodelay(true);
    let sock = Arc::new(sock);
    let Some((id, conn)) = state.connect(sock.clone()) else {
        return refuser.refuse(sock, state.is_shutting_down());
    };
    let session = session::Session {
        state: state.clone(),
        id,
        conn,
        peer: Peer {
            addr,
            udp_port: 0,
            p2p_port: 0,
        },
        phase: session::Phase::AwaitingUsername,
        unsynced: Default::default(),
    };
    let theirs = sock.clone();
    let spawned = thread::Builder::new()
        .name(format!("session-{id}"))
        .stack_size(THREAD_STACK)
        .spawn(move || session.run(theirs));
    if let Err(e) = spawned {
        // --max-clients keeps us below the thread ceiling; if the system runs out anyway,
        // this client is refused and everyone else carries on.
        log::error!("cannot start a session thread: {e}");
        state.disconnect(id, None);
        refuser.refuse(sock, false);
    }
}
