//! Connections that have not logged in yet: each address may hold at most half of
//! `--max-clients` of them ([`Core::prelogin_share`]); a new connection from an address
//! at its share replaces that address's oldest one. So a flood of sockets from one
//! address can neither fill the server nor lock out a real user from the same address,
//! and the timer closes any connection that has not logged in within `login_timeout`
//! (30 s, or the idle timeout if shorter).

use super::outbox::Out;
use super::state::{ConnId, Core};
use crate::protocol::Event;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Pre-login connections: who, from where, since when.
#[derive(Default)]
pub(super) struct PreLogin {
    conns: HashMap<ConnId, (IpAddr, Instant)>,
    /// Per address, oldest first.
    by_ip: HashMap<IpAddr, BTreeSet<(Instant, ConnId)>>,
}

impl PreLogin {
    /// How many connections from `ip` have not logged in.
    pub fn from(&self, ip: IpAddr) -> usize {
        self.by_ip.get(&ip).map_or(0, BTreeSet::len)
    }

    /// The longest-waiting connection from `ip`.
    pub fn oldest(&self, ip: IpAddr) -> Option<ConnId> {
        self.by_ip.get(&ip)?.first().map(|&(_, c)| c)
    }

    pub fn add(&mut self, conn: ConnId, ip: IpAddr, now: Instant) {
        self.conns.insert(conn, (ip, now));
        self.by_ip.entry(ip).or_default().insert((now, conn));
    }

    /// `conn` logged in or closed (no-op if it was not counted).
    pub fn remove(&mut self, conn: ConnId) {
        let Some((ip, since)) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(set) = self.by_ip.get_mut(&ip) {
            set.remove(&(since, conn));
            if set.is_empty() {
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

    /// Room for a new connection from `ip`: false if the server is full. An address at
    /// its share gives up its oldest pre-login connection (which is told and closed).
    pub fn make_room(&mut self, ip: IpAddr, max_clients: usize) -> bool {
        if self.prelogin.from(ip) < Core::prelogin_share(max_clients) {
            return self.conns.len() < max_clients;
        }
        // A replaced connection still counts until its session ends, so the server may
        // be over its limit for a moment: by an eighth at most, then it refuses.
        let Some(old) = self.prelogin.oldest(ip) else {
            return false;
        };
        if self.conns.len() >= max_clients + max_clients / 8 {
            return false;
        }
        self.prelogin.remove(old);
        self.close_with(&[old], crate::text::TOO_MANY_FROM_ADDRESS);
        true
    }

    /// Closes the connections that did not log in within `limit`; returns how many.
    pub fn expire_prelogin(&mut self, now: Instant, limit: Duration) -> usize {
        let old = self.prelogin.expired(now, limit);
        self.close_with(&old, crate::text::LOGIN_TIMED_OUT);
        old.len()
    }

    fn close_with(&self, ids: &[ConnId], why: &str) {
        let bye = Event::Bye {
            text: why.to_string(),
            code: 1,
        };
        for id in ids {
            if let Some(c) = self.conns.get(id) {
                c.send_msg(&bye);
                c.send(Out::Close);
            }
        }
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
        assert_eq!(p.oldest(a), Some(1));
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
