//! The peer-to-peer broker. The server never carries private chat or file data: it checks
//! who may talk to whom, asks for consent, and hands both sides the peer's address and a
//! one-time random token that the connecting peer must present, so a third client cannot
//! pose as a peer.

use crate::protocol::{Event, Then};
use crate::server::state::{Reply, State};
use crate::text;
use crate::tls::new_transfer_key;

/// 128 random bits, hex.
fn token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Why the broker will not put two peers in touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRefused {
    ToSelf,
    NoSuchUser,
    /// The peer has blocked the asker (who, for `UDP`, is told they are offline).
    BlockedYou,
    Offline,
    /// `UDP`: a file name that is not a safe plain name.
    BadFileName,
    /// `UDP`: the peer's client listens on no UDP port.
    NoUdpPort,
}

impl PeerRefused {
    /// The line for `startprivate USER`.
    fn private_reply(self, who: &str) -> Reply {
        match self {
            PeerRefused::ToSelf => Reply::err(text::PRIVATE_WITH_SELF),
            PeerRefused::NoSuchUser => Reply::err(text::INVALID_USER),
            PeerRefused::BlockedYou => Reply::err(text::has_blocked_you(who)),
            _ => Reply::err(text::is_offline(who)),
        }
    }
}

/// Where a presenter sends a `UDP` upload: the audience's address, the one-time token
/// and, when the upload is sealed, its key (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpRoute {
    pub addr: String,
    pub token: String,
    pub key: Option<String>,
}

impl State {
    /// Whether `who` has an account, and whether they blocked `me` where the store keeps
    /// blocks beyond this node's rule: the store call `message` makes. A store that
    /// cannot answer counts as no such user, rather than acting on a guess.
    fn peer_check(&self, me: &str, who: &str) -> Result<Option<bool>, PeerRefused> {
        match self.store().recipient(who, me) {
            Ok(r) if r.exists => Ok(r.blocked),
            Ok(_) => Err(PeerRefused::NoSuchUser),
            Err(e) => {
                log::error!("cannot look up an account: {e}");
                Err(PeerRefused::NoSuchUser)
            }
        }
    }

    /// Whether `me` may start private messaging with `who` (online or not).
    fn may_ask(&self, me: &str, who: &str) -> Result<(), PeerRefused> {
        if me == who {
            return Err(PeerRefused::ToSelf);
        }
        let blocked = self.peer_check(me, who)?;
        if blocked.unwrap_or_else(|| !self.0.core.lock().blocks.visible(who, me)) {
            return Err(PeerRefused::BlockedYou);
        }
        Ok(())
    }

    /// `startprivate USER` with a session already open: the refusals, or "already".
    pub fn check_private(&self, me: &str, who: &str) -> Reply {
        if let Err(refused) = self.may_ask(me, who) {
            return refused.private_reply(who);
        }
        if !self.online_anywhere(who) {
            return Reply::err(text::is_offline(who));
        }
        Reply::err(text::already_private(who))
    }

    /// `stopprivate USER` while the request to USER is pending: withdraws it.
    pub fn withdraw_private(&self, me: &str, who: &str) -> Reply {
        let mut core = self.0.core.lock();
        let pair = (me.to_string(), who.to_string());
        if !core.pending_private.remove(&pair) {
            return Reply::err(text::no_private_session(who));
        }
        drop(core);
        let from = me.to_string();
        self.send_anywhere(me, who, &Event::PrivateWithdrawn { from });
        Reply::line(text::private_stopped(who))
    }

    /// `startprivate USER`: asks USER for consent; the answer arrives as an event.
    pub fn start_private(&self, me: &str, who: &str) -> Reply {
        if let Err(refused) = self.may_ask(me, who) {
            return refused.private_reply(who);
        }
        let mut core = self.0.core.lock();
        let ask = Event::PrivateRequest {
            from: me.to_string(),
        };
        if core.send_event(who, &ask) {
            core.pending_private
                .insert((me.to_string(), who.to_string()));
            return Reply::ok(vec![]);
        }
        drop(core);
        // On another node, which records the request as it hands it over (and here, so
        // it can be withdrawn).
        if !self.send_elsewhere(me, who, &ask) {
            return Reply::err(text::is_offline(who));
        }
        let pair = (me.to_string(), who.to_string());
        self.0.core.lock().pending_private.insert(pair);
        Reply::ok(vec![])
    }

    /// Sends `ev` to `to` here or on another node; false if `to` is offline everywhere.
    fn send_anywhere(&self, from: &str, to: &str, ev: &Event) -> bool {
        self.0.core.lock().send_event(to, ev) || self.send_elsewhere(from, to, ev)
    }

    /// The consent answer of `me` to `from`'s request.
    /// With `fingerprint` (of the accepter's private-chat listener), the asker is told to connect
    /// with TLS and pin it.
    pub fn private_answer(
        &self,
        me: &str,
        from: &str,
        accept: bool,
        fingerprint: Option<String>,
    ) -> Reply {
        let mut core = self.0.core.lock();
        if !core
            .pending_private
            .remove(&(from.to_string(), me.to_string()))
        {
            drop(core);
            if !self.online_anywhere(from) {
                // The asker left before the answer.
                return Reply::err(text::no_longer_available(from));
            }
            return Reply::err(text::no_private_request(from));
        }
        let addr = core
            .roster
            .online(me)
            .map(|o| format!("{}:{}", o.ip, o.p2p_port));
        drop(core);
        if !accept {
            let declined = Event::PrivateDeclined {
                user: me.to_string(),
            };
            self.send_anywhere(me, from, &declined);
            return Reply::ok(vec![]);
        }
        let Some(addr) = addr else {
            return Reply::err(text::is_offline(me));
        };
        let token = token();
        let accepted = Event::PrivateAccepted {
            user: me.to_string(),
            addr,
            token: token.clone(),
            fingerprint: fingerprint.filter(|f| crate::tls::is_fingerprint(f)),
        };
        if !self.send_anywhere(me, from, &accepted) {
            return Reply::err(text::is_offline(from));
        }
        Reply::ok(vec![]).then(Then::AwaitPeer { token })
    }

    /// `UDP USER FILE`, rendered for the presenter.
    pub fn udp(&self, me: &str, who: &str, file: &str) -> Reply {
        match self.udp_route(me, who, file) {
            Ok(UdpRoute { addr, token, key }) => {
                self.announce(&text::udp_upload_logged(me, file, who));
                Reply::ok(vec![]).then(Then::UdpSend { addr, token, key })
            }
            Err(PeerRefused::ToSelf) => Reply::err(text::UPLOAD_TO_SELF),
            Err(PeerRefused::BadFileName) => Reply::err(text::invalid_file_name(file)),
            Err(PeerRefused::NoSuchUser) => Reply::err(text::INVALID_USER),
            Err(PeerRefused::BlockedYou | PeerRefused::Offline) => {
                Reply::err(text::is_offline(who))
            }
            Err(PeerRefused::NoUdpPort) => Reply::err(text::cannot_receive_files(who)),
        }
    }

    /// `UDP USER FILE`: tells the audience to expect the file, and says where the
    /// presenter sends it.
    pub fn udp_route(&self, me: &str, who: &str, file: &str) -> Result<UdpRoute, PeerRefused> {
        if me == who {
            return Err(PeerRefused::ToSelf);
        }
        if !crate::names::valid_name(file) {
            return Err(PeerRefused::BadFileName);
        }
        let blocked = self.peer_check(me, who)?;
        let (visible, here) = {
            let core = self.0.core.lock();
            let here = core.roster.online(who).map(|o| (o.ip, o.udp_port));
            (
                !blocked.unwrap_or_else(|| !core.blocks.visible(who, me)),
                here,
            )
        };
        if !visible {
            return Err(PeerRefused::BlockedYou);
        }
        let target = here.or_else(|| self.elsewhere(who).map(|r| (r.ip, r.udp_port)));
        let (ip, port) = target.ok_or(PeerRefused::Offline)?;
        if port == 0 {
            return Err(PeerRefused::NoUdpPort);
        }
        let token = token();
        // Sealed when either side is on TLS: the key goes to both over their connections.
        // A receiver on another node is sealed for too (its connection is not known here).
        let sealed = {
            let core = self.0.core.lock();
            let on_tls = |user: &str| core.roster.conn_of(user).is_some_and(|c| c.tls().is_some());
            here.is_none() || on_tls(me) || on_tls(who)
        };
        let key = sealed.then(|| crate::tls::key_hex(&new_transfer_key()));
        let incoming = Event::UdpIncoming {
            from: me.to_string(),
            file: file.to_string(),
            token: token.clone(),
            key: key.clone(),
        };
        self.send_anywhere(me, who, &incoming);
        let addr = format!("{ip}:{port}");
        Ok(UdpRoute { addr, token, key })
    }
}

#[cfg(test)]
mod tests {
    use super::PeerRefused;
    use crate::server::testing;
    use std::time::Instant;

    #[test]
    fn a_udp_upload_is_routed_to_a_visible_peer_with_a_port_and_refused_otherwise() {
        let (_dir, s) = testing::state("yoda a\nhans b\nluke c\nleia d\n");
        {
            let mut core = s.0.core.lock();
            core.roster
                .log_in("hans", 1, &testing::peer(9999), Instant::now());
            core.roster
                .log_in("luke", 2, &testing::peer(0), Instant::now());
        }
        let refused = |who, file| s.udp_route("yoda", who, file).unwrap_err();
        assert_eq!(refused("yoda", "f.bin"), PeerRefused::ToSelf);
        assert_eq!(refused("hans", "../f.bin"), PeerRefused::BadFileName);
        assert_eq!(refused("bob", "f.bin"), PeerRefused::NoSuchUser);
        assert_eq!(refused("leia", "f.bin"), PeerRefused::Offline);
        assert_eq!(refused("luke", "f.bin"), PeerRefused::NoUdpPort);
        let route = s.udp_route("yoda", "hans", "f.bin").unwrap();
        assert_eq!(route.addr, "127.0.0.1:9999");
        assert_eq!(route.token.len(), 32);
        assert_eq!(route.key, None, "neither side is on TLS");
        s.change_block("hans", "yoda", true).unwrap();
        assert_eq!(refused("hans", "f.bin"), PeerRefused::BlockedYou);
    }
}
