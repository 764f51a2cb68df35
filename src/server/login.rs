//! Login, sign-up and logout: the transitions of a connection's login phase, as state
//! methods that answer with the [`Reply`] the client acts on (`then` names the next
//! prompt). Failed attempts count per username, across connections and addresses.

use super::state::{ConnId, Core, Reply, State};
use super::store::accounts;
use super::store::{Failure, StoreError};
use crate::protocol::{Farewell, Response, Then};
use crate::text;
use std::net::SocketAddr;
use std::time::Instant;

/// Where a logging-in client is: its address and the ports it listens on for peers.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub addr: SocketAddr,
    pub udp_port: u16,
    pub p2p_port: u16,
}

impl Core {
    /// Puts `user` online and queues the welcome (the response to login request `re`)
    /// before the `core` lock is released, so nothing sent to `user` from now on can
    /// overtake it. The offline messages follow ([`State::deliver_offline`]).
    fn come_online(&mut self, user: &str, conn: ConnId, peer: &Peer, re: u64) {
        self.roster.log_in(user, conn, peer, Instant::now());
        self.presence(user, &text::logged_in(user));
        if let Some(c) = self.roster.conn(conn) {
            c.send_msg(&Response {
                re,
                ok: true,
                lines: vec![text::WELCOME.to_string()],
                then: Then::LoggedIn,
            });
        }
    }
}

impl State {
    /// The username step.
    pub fn login_username(&self, name: &str) -> Reply {
        if !accounts::valid_credential(name) {
            return Reply::err(text::invalid_name("username")).then(Then::AskUsername);
        }
        let exists = match self.0.store.accounts().account_exists(name) {
            Ok(exists) => exists,
            Err(e) => return unavailable(&e),
        };
        if exists {
            Reply::ok(vec![]).then(Then::AskPassword)
        } else if self.config().signup {
            Reply::ok(vec![]).then(Then::AskNewPassword)
        } else {
            Reply::err(text::INVALID_USERNAME_RETRY).then(Then::AskUsername)
        }
    }

    /// The password step for an existing account; a lockout is preceded by an event
    /// saying how long it lasts (shown on a terminal, the scripted line is unchanged).
    pub fn login_password(
        &self,
        conn: ConnId,
        re: u64,
        name: &str,
        pw: &str,
        peer: &Peer,
    ) -> Reply {
        let reply = self.check_password(conn, re, name, pw, peer);
        let locked = [text::ACCOUNT_BLOCKED, text::INVALID_PASSWORD_BLOCKED];
        if reply.lines.iter().any(|l| locked.contains(&l.as_str())) {
            let secs = self.config().block_duration.as_secs();
            if let Some(c) = self.conn_handle(conn) {
                c.send_msg(&crate::protocol::Event::Lockout { secs });
            }
        }
        reply
    }

    /// The password is checked with no lock held (argon2 is slow on purpose); the
    /// account's state is then re-read, so a lock that landed meanwhile still wins.
    fn check_password(&self, conn: ConnId, re: u64, name: &str, pw: &str, peer: &Peer) -> Reply {
        let now = Instant::now();
        let ip = peer.addr.ip();
        if self.address_throttled(ip, now, false) {
            self.announce(&text::login_throttled(name, ip));
            return Reply::err(text::TOO_MANY_LOGINS).then(Then::Exit { code: 1 });
        }
        let accounts = self.0.store.accounts();
        let stored = match accounts.login_record(name, now) {
            Ok((None, _)) => {
                return Reply::err(text::INVALID_USERNAME_RETRY).then(Then::AskUsername)
            }
            Ok((Some(_), true)) => {
                return Reply::err(text::ACCOUNT_BLOCKED).then(Then::Exit { code: 1 })
            }
            Ok((Some(stored), false)) => stored,
            Err(e) => return unavailable(&e),
        };
        if !accounts::verify(&stored, pw) {
            self.address_throttled(ip, now, true);
            return self.wrong_password(name, now);
        }
        match self.0.store.accounts().login_succeeded(name, now) {
            Ok(true) => {}
            Ok(false) => return Reply::err(text::ACCOUNT_BLOCKED).then(Then::Exit { code: 1 }),
            Err(e) => return unavailable(&e),
        }
        match self.0.presence.claim(name, peer) {
            Ok(true) => {}
            Ok(false) => return Reply::err(text::already_logged_in(name)).then(Then::AskUsername),
            Err(e) => return unavailable(&e),
        }
        let conn_handle = self.conn_handle(conn);
        let _gate = conn_handle.as_ref().map(|c| c.hold());
        {
            let mut core = self.0.core.lock();
            if core.roster.online(name).is_some() {
                return Reply::err(text::already_logged_in(name)).then(Then::AskUsername);
            }
            core.come_online(name, conn, peer, re);
        }
        self.welcome(name, peer)
    }

    /// The login throttle: whether `ip` has used up its failed passwords, after counting
    /// one more if `failed`. A cluster counts them in Redis, over every node (else an
    /// address would get an allowance per node, and its failures on all of them would
    /// still count against the account); while Redis is unreachable, per node.
    fn address_throttled(&self, ip: std::net::IpAddr, now: Instant, failed: bool) -> bool {
        let limit = u64::from(self.config().login_throttle);
        if let (Some(node), true) = (self.node(), limit > 0) {
            let at = (
                chrono::Utc::now().timestamp_millis(),
                super::throttle::LOGIN_WINDOW,
            );
            let member = failed.then(|| format!("{} {}", node.name, failure_id()));
            match node.store.address_failures(ip, at, member.as_deref()) {
                Ok(n) => return n >= limit,
                Err(e) => log::warn!("login throttle: {e}"),
            }
        }
        let mut throttle = self.0.login_throttle.lock();
        if failed {
            throttle.record_failure(ip, now);
        }
        throttle.blocked(ip, now)
    }

    /// Counts a wrong password against the account: retry, or locked out.
    fn wrong_password(&self, name: &str, now: Instant) -> Reply {
        let cfg = self.config();
        let failed =
            self.0
                .store
                .accounts()
                .login_failed(name, now, cfg.attempts, cfg.block_duration);
        match failed {
            Ok(Failure::Blocked) => Reply::err(text::ACCOUNT_BLOCKED).then(Then::Exit { code: 1 }),
            Ok(Failure::NowBlocked) => {
                self.announce(&text::locked_out(name));
                Reply::err(text::INVALID_PASSWORD_BLOCKED).then(Then::Exit { code: 1 })
            }
            Ok(Failure::TryAgain(_)) => {
                Reply::err(text::INVALID_PASSWORD_RETRY).then(Then::AskPassword)
            }
            Err(e) => unavailable(&e),
        }
    }

    /// The new-password step: creates the account (its password stored as an argon2id
    /// hash, computed before any lock is taken), then logs in.
    pub fn sign_up(&self, conn: ConnId, re: u64, name: &str, pw: &str, peer: &Peer) -> Reply {
        if !self.config().signup {
            return Reply::err(text::INVALID_USERNAME_RETRY).then(Then::AskUsername);
        }
        if !accounts::valid_credential(pw) {
            return Reply::err(text::invalid_name("password")).then(Then::AskNewPassword);
        }
        let hash = accounts::hash_password(pw);
        match self.0.store.accounts().add_account(name, &hash) {
            Ok(true) => {}
            Ok(false) => return Reply::err(text::INVALID_USERNAME_RETRY).then(Then::AskUsername),
            Err(e @ StoreError::Unavailable(_)) => return unavailable(&e),
            Err(_) => return Reply::err(text::SIGNUP_FAILED).then(Then::AskUsername),
        }
        if let Ok(false) | Err(_) = self.0.presence.claim(name, peer) {
            return Reply::err(text::already_logged_in(name)).then(Then::AskUsername);
        }
        let conn_handle = self.conn_handle(conn);
        let _gate = conn_handle.as_ref().map(|c| c.hold());
        // A new account has no offline messages: nothing to deliver.
        self.0.core.lock().come_online(name, conn, peer, re);
        self.announce(&text::signed_up(name));
        self.welcome(name, peer)
    }

    /// After a login: the welcome itself was already queued by `come_online`, so the
    /// session sends nothing more for this request. Callers hold the connection's gate
    /// until this returns, so the client reads its welcome only after userlog.txt lists it.
    fn welcome(&self, name: &str, peer: &Peer) -> Reply {
        self.announce(&text::logged_in_from(name, peer.addr));
        self.sync_userlog();
        Reply::ok(vec![]).then(Then::LoggedIn)
    }

    /// `logout`, `OUT` or `XIT`.
    pub fn logout(&self, conn: ConnId, user: &str, how: Farewell) -> Reply {
        let now = Instant::now();
        let gone = self.0.core.lock().go_offline(user, conn, now);
        if gone {
            self.0.presence.release(user, now);
            self.announce(&text::logged_out(user));
            self.sync_userlog();
        }
        let line = match how {
            Farewell::Logout => text::goodbye(user),
            Farewell::Out => text::bye(user),
            Farewell::Xit => text::XIT_GOODBYE.to_string(),
        };
        Reply::line(line).then(Then::Exit { code: 0 })
    }
}

/// Tells this node's failed passwords apart (in the cluster's throttle).
fn failure_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A login the store could not answer: the client is told to try later, and exits.
fn unavailable(e: &StoreError) -> Reply {
    log::error!("login: {e}");
    Reply::err(text::SERVER_UNAVAILABLE).then(Then::Exit { code: 1 })
}
