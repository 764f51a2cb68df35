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
        if !self.0.core.lock().blocks.visible(who, me) {
            return Some(Reply::err(text::has_blocked_you(who)));
        }
        None
    }

    /// `startprivate USER` with a session already open: the refusals, or "already".
    pub fn check_private(&self, me: &str, who: &str) -> Reply {
        if let Some(refused) = self.private_refusal(me, who) {
            return refused;
        }
        if !self.0.core.lock().roster.is_online(who) {
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
        let from = me.to_string();
        core.send_event(who, &Event::PrivateWithdrawn { from });
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
        if !core.send_event(who, &ask) {
            return Reply::err(text::is_offline(who));
        }
        core.pending_private
            .insert((me.to_string(), who.to_string()));
        Reply::ok(vec![])
    }

    /// The consent answer of `me` to `from`'s request.
    /// With `fingerprint` (the accepter's client is on TLS), the asker is told to connect
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
            if !core.roster.is_online(from) {
                // The asker left before the answer.
                return Reply::err(text::no_longer_available(from));
            }
            return Reply::err(text::no_private_request(from));
        }
        if !accept {
            core.send_event(
                from,
                &Event::PrivateDeclined {
                    user: me.to_string(),
                },
            );
            return Reply::ok(vec![]);
        }
        let Some(addr) = core
            .roster
            .online(me)
            .map(|o| format!("{}:{}", o.ip, o.p2p_port))
        else {
            return Reply::err(text::is_offline(me));
        };
        let token = token();
        let accepted = Event::PrivateAccepted {
            user: me.to_string(),
            addr,
            token: token.clone(),
            fingerprint: fingerprint.filter(|f| crate::tls::is_fingerprint(f)),
        };
        if !core.send_event(from, &accepted) {
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
        let core = self.0.core.lock();
        let target = core
            .roster
            .online(who)
            .filter(|_| core.blocks.visible(who, me))
            .map(|o| (o.ip, o.udp_port));
        let Some((ip, port)) = target else {
            return Reply::err(text::is_offline(who));
        };
        if port == 0 {
            return Reply::err(text::cannot_receive_files(who));
        }
        let token = token();
        // Sealed when either side is on TLS: the key goes to both over their connections.
        let on_tls = |user: &str| core.roster.conn_of(user).is_some_and(|c| c.tls().is_some());
        let key = (on_tls(me) || on_tls(who)).then(|| crate::tls::key_hex(&new_transfer_key()));
        let incoming = Event::UdpIncoming {
            from: me.to_string(),
            file: file.to_string(),
            token: token.clone(),
            key: key.clone(),
        };
        core.send_event(who, &incoming);
        self.announce(&text::udp_upload_logged(me, file, who));
        Reply::ok(vec![]).then(Then::UdpSend {
            addr: format!("{ip}:{port}"),
            token,
            key,
        })
    }
}
