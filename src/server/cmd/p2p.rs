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

impl State {
    /// Why `me` may not start private messaging with `who`, if they may not.
    fn private_refusal(&self, me: &str, who: &str) -> Option<Reply> {
        if me == who {
            return Some(Reply::err(text::PRIVATE_WITH_SELF));
        }
        if !self.user_exists(who) {
            return Some(Reply::err(text::INVALID_USER));
        }
        let blocked = self.cluster_blocked(who, me);
        if blocked.unwrap_or_else(|| !self.0.core.lock().blocks.visible(who, me)) {
            return Some(Reply::err(text::has_blocked_you(who)));
        }
        None
    }

    /// `startprivate USER` with a session already open: the refusals, or "already".
    pub fn check_private(&self, me: &str, who: &str) -> Reply {
        if let Some(refused) = self.private_refusal(me, who) {
            return refused;
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
        if let Some(refused) = self.private_refusal(me, who) {
            return refused;
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

    /// `UDP USER FILE`: tells the audience to expect the file and the presenter where to
    /// send it.
    pub fn udp(&self, me: &str, who: &str, file: &str) -> Reply {
        if me == who {
            return Reply::err(text::UPLOAD_TO_SELF);
        }
        if !crate::names::valid_name(file) {
            return Reply::err(text::invalid_file_name(file));
        }
        if !self.user_exists(who) {
            return Reply::err(text::INVALID_USER);
        }
        let blocked = self.cluster_blocked(who, me);
        let (visible, here) = {
            let core = self.0.core.lock();
            let here = core.roster.online(who).map(|o| (o.ip, o.udp_port));
            (
                !blocked.unwrap_or_else(|| !core.blocks.visible(who, me)),
                here,
            )
        };
        let target = here.or_else(|| self.elsewhere(who).map(|r| (r.ip, r.udp_port)));
        let Some((ip, port)) = target.filter(|_| visible) else {
            return Reply::err(text::is_offline(who));
        };
        if port == 0 {
            return Reply::err(text::cannot_receive_files(who));
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
        self.announce(&text::udp_upload_logged(me, file, who));
        Reply::ok(vec![]).then(Then::UdpSend {
            addr: format!("{ip}:{port}"),
            token,
            key,
        })
    }
}
