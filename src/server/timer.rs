//! The timer thread. It holds no policy: every tick it calls `State::expire(now)`, where
//! lockout and idle rules are pure functions of `now`. It exits when told to stop.

use super::state::State;
use crossbeam_channel::{select, tick, Receiver};
use std::time::{Duration, Instant};

/// How often lockouts and idle timeouts are checked.
pub const TICK: Duration = Duration::from_millis(100);

/// Runs until `stop` is signalled or dropped.
pub fn run(state: State, stop: Receiver<()>) {
    let ticker = tick(TICK);
    loop {
        select! {
            recv(ticker) -> _ => state.expire(Instant::now()),
            recv(stop) -> _ => return,
        }
    }
}
