//! Connections that have not logged in yet: each address may hold at most half of
//! `--max-clients` of them ([`Core::prelogin_share`]), so a flood of sockets from one
//! address cannot fill the server, and the timer closes any that has not logged in within
//! `login_timeout` (30 s, or the idle timeout if shorter).

use super::outbox::Out;
use super::state::{ConnId, Core};
use crate::protocol::Event;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Pre-login connections: who, from where, since when.
#[derive(Default)]
pub(super) struct PreLogin {
    conns: std::collections::HashMap<ConnId, (IpAddr, Instant)>,
    by_ip: std::collections::HashMap<IpAddr, usize>,
}

impl PreLogin {
    /// How many connections from `ip` have not logged in.
    pub fn from(&self, ip: IpAddr) -> usize {
        self.by_ip.get(&ip).copied().unwrap_or(0)
    }

    pub fn add(&mut self, conn: ConnId, ip: IpAddr, now: Instant) {
        self.conns.insert(conn, (ip, now));
        *self.by_ip.entry(ip).or_default() += 1;
    }

    /// `conn` logged in or closed (no-op if it was not counted).
    pub fn remove(&mut self, conn: ConnId) {
        let Some((ip, _)) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(n) = self.by_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.by_ip.remove(&ip);
            }
        }
    }

    /// Takes out the connections older than `limit` at `now`.
    pub fn expired(&mut self, now: Instant, limit: Duration) -> Vec<ConnId> {
        let old: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, (_, since))| now.duration_since(*since) >= limit)
            .map(|(&c, _)| c)
            .collect();
        old.iter().for_each(|&c| self.remove(c));
        old
    }
}

impl Core {
    /// Most pre-login connections one address may hold: half of `max_clients` (at least
    /// one).
    pub fn prelogin_share(max_clients: usize) -> usize {
        (max_clients / 2).max(1)
    }

    /// Closes the connections that did not log in within `limit`; returns how many.
    pub fn expire_prelogin(&mut self, now: Instant, limit: Duration) -> usize {
        let old = self.prelogin.expired(now, limit);
        let bye = Event::Bye {
            text: crate::text::LOGIN_TIMED_OUT.to_string(),
            code: 1,
        };
        for id in &old {
            if let Some(c) = self.conns.get(id) {
                c.send_msg(&bye);
                c.send(Out::Close);
            }
        }
        old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address_and_expires_by_age() {
        let t0 = Instant::now();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let mut p = PreLogin::default();
        p.add(1, a, t0);
        p.add(2, a, t0 + Duration::from_secs(5));
        p.add(3, b, t0);
        assert_eq!((p.from(a), p.from(b)), (2, 1));
        p.remove(3);
        p.remove(3);
        assert_eq!(p.from(b), 0);
        let limit = Duration::from_secs(30);
        assert!(p.expired(t0 + Duration::from_secs(29), limit).is_empty());
        assert_eq!(p.expired(t0 + Duration::from_secs(30), limit), [1]);
        assert_eq!(p.from(a), 1);
        assert_eq!(p.expired(t0 + Duration::from_secs(35), limit), [2]);
        assert_eq!(p.from(a), 0);
        assert_eq!(Core::prelogin_share(6000), 3000);
        assert_eq!(Core::prelogin_share(1), 1);
    }
}
