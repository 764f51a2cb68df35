//! Private chat's connections: the listener's accept loop, the handshake that checks a
//! peer's token, and the dialling side (a child of `private`, so it shares its types).

use super::*;

impl Inner {
    pub(super) fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        while !self.stopping() {
            match listener.accept() {
                Ok((stream, peer)) => {
                    log::debug!("private chat: connection from {peer}");
                    let me = Arc::clone(&self);
                    if let Err(e) = self.spawn("private-in", move || me.run_incoming(stream)) {
                        log::warn!("private chat: cannot start reader thread: {e}");
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(ACCEPT_POLL),
                Err(e) => {
                    log::warn!("private chat: accept failed: {e}");
                    thread::sleep(ACCEPT_POLL);
                }
            }
        }
    }

    pub(super) fn run_incoming(&self, stream: TcpStream) {
        let stream = match self.tls.get() {
            Some(id) => match id.accept(stream, HANDSHAKE_TIMEOUT) {
                Ok(s) => s,
                Err(e) => return log::debug!("private chat: TLS refused: {e}"),
            },
            None => PeerStream::Plain(stream),
        };
        let (from, reader) = match self.handshake_in(&stream) {
            Ok(ok) => ok,
            Err(e) => return log::debug!("private chat: refused connection: {e}"),
        };
        let Some(session) = self.register(&from, stream) else {
            return;
        };
        if let Err(e) = session.write(&Wire::Welcome) {
            log::debug!("private chat: welcome to {from} failed: {e}");
        }
        self.read_loop(&from, &session, reader);
    }

    pub(super) fn handshake_in(
        &self,
        stream: &PeerStream,
    ) -> io::Result<(String, BufReader<PeerStream>)> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let Some(Wire::Hello { from, token }) = read_wire(&mut reader)? else {
            return Err(invalid("expected hello"));
        };
        if !self.claim_token(&from, &token) {
            return Err(invalid(&format!("bad or unknown token from {from:?}")));
        }
        stream.set_read_timeout(None)?;
        Ok((from, reader))
    }

    /// Consumes `token` if it was registered for `from`, waiting up to `token_wait`.
    pub(super) fn claim_token(&self, from: &str, token: &str) -> bool {
        let deadline = Instant::now() + self.token_wait;
        let mut st = self.state.lock();
        loop {
            if self.stopping() {
                return false;
            }
            if st.expected.get(token).is_some_and(|(f, _)| f == from) {
                st.expected.remove(token);
                return true;
            }
            if self.token_added.wait_until(&mut st, deadline).timed_out() {
                return false;
            }
        }
    }

    pub(super) fn run_outgoing(&self, user: &str, addr: &str, token: &str, pin: Option<&str>) {
        // A session being replaced leaves the map now (so its end is silent) but stays
        // open until the new one is up, so the peer swaps it silently too.
        let old = self.state.lock().sessions.remove(user);
        let session = match self.dial(addr, token, pin) {
            Ok((stream, reader)) => self.register(user, stream).map(|s| (s, reader)),
            Err(e) => {
                log::debug!("private chat: connecting to {user} at {addr} failed: {e}");
                None
            }
        };
        if let Some(old) = old {
            old.close();
        }
        match session {
            Some((session, reader)) => {
                self.say(format!("Start private messaging with {user}"));
                self.read_loop(user, &session, reader);
            }
            None if !self.stopping() => self.say(unavailable(user)),
            None => {}
        }
    }

    pub(super) fn dial(
        &self,
        addr: &str,
        token: &str,
        pin: Option<&str>,
    ) -> io::Result<(PeerStream, BufReader<PeerStream>)> {
        let target = addr.to_socket_addrs()?.next();
        let target = target.ok_or_else(|| invalid("address resolves to nothing"))?;
        let stream = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)?;
        stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let stream = match pin {
            Some(fingerprint) => crate::client::peer::dial(stream, fingerprint)?,
            None => PeerStream::Plain(stream),
        };
        let from = self.me.lock().clone();
        let token = token.to_string();
        write_wire(&stream, &Wire::Hello { from, token })?;
        let mut reader = BufReader::new(stream.try_clone()?);
        match read_wire(&mut reader)? {
            Some(Wire::Welcome) => {}
            _ => return Err(invalid("peer refused the token")),
        }
        stream.set_read_timeout(None)?;
        Ok((stream, reader))
    }
}

/// `CHINWAG_TOKEN_WAIT` in seconds if set and valid, else `TOKEN_WAIT`.
pub(super) fn token_wait_from_env() -> Duration {
    std::env::var("CHINWAG_TOKEN_WAIT")
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s.parse().ok()?).ok())
        .unwrap_or(TOKEN_WAIT)
}
