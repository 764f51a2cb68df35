//! Connections that have not logged in yet: each address may hold at most half of
//! `--max-clients` of them (`Roster::prelogin_share`); a new connection from an address
//! at its share replaces that address's oldest one. So a flood of sockets from one
//! address can neither fill the server nor lock out a real user from the same address,
//! and the timer closes any connection that has not logged in within `login_timeout`
//! (30 s, or the idle timeout if shorter).

use super::state::ConnId;
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
        use super::super::roster::Roster;
        assert_eq!(Roster::prelogin_share(6000), 3000);
        assert_eq!(Roster::prelogin_share(1), 1);
    }
}
