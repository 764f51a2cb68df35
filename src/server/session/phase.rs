//! The connection lifecycle as a type: [`Phase`], and [`Phase::after`], the one function
//! every transition goes through (login steps, a logged-in command's `Exit`, a protocol
//! violation, the timer's logout). `login_step` runs the login phase's requests against
//! the state and moves the phase by their answers.

use super::Session;
use crate::protocol::{Command, Then};
use crate::server::state::{Reply, State};
use crate::text;

/// Where a connection is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    AwaitingUsername,
    AwaitingPassword { user: String },
    AwaitingNewPassword { user: String },
    LoggedIn { user: String },
    Closing,
}

/// What happened to a connection, for [`Phase::after`].
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// `hello`: the client's ports; the phase stays.
    Hello,
    /// `username NAME` was answered.
    Username(&'a str),
    /// Any other request was answered.
    Answered,
    /// The connection is over (a protocol violation, logged out by the timer).
    End,
}

impl Phase {
    /// The phase after `step`, answered with `then`.
    pub fn after(self, step: Step<'_>, then: &Then) -> Phase {
        match (self, step, then) {
            (_, Step::End, _) | (_, _, Then::Exit { .. }) => Phase::Closing,
            (p, Step::Hello, _) => p,
            (_, Step::Username(name), Then::AskPassword) => Phase::AwaitingPassword {
                user: name.to_string(),
            },
            (_, Step::Username(name), Then::AskNewPassword) => Phase::AwaitingNewPassword {
                user: name.to_string(),
            },
            (_, Step::Username(_), _) | (_, _, Then::AskUsername) => Phase::AwaitingUsername,
            (
                Phase::AwaitingPassword { user } | Phase::AwaitingNewPassword { user },
                _,
                Then::LoggedIn,
            ) => Phase::LoggedIn { user },
            (p, _, _) => p,
        }
    }

    pub fn user(&self) -> Option<&str> {
        match self {
            Phase::LoggedIn { user } => Some(user),
            _ => None,
        }
    }
}

impl Session {
    /// Moves the phase on (see [`Phase::after`]).
    pub(super) fn advance(&mut self, step: Step<'_>, then: &Then) {
        let phase = std::mem::replace(&mut self.phase, Phase::Closing);
        self.phase = phase.after(step, then);
    }

    /// The login phase: `hello`, `username`, then `password` or `new_password`.
    pub(super) fn login_step(&mut self, re: u64, cmd: Command) -> Reply {
        let (step, reply) = match (&self.phase, cmd) {
            (_, Command::Hello { udp_port, p2p_port }) => {
                self.peer.udp_port = udp_port;
                self.peer.p2p_port = p2p_port;
                (Step::Hello, Reply::ok(vec![]).then(Then::AskUsername))
            }
            (_, Command::Username { name }) => {
                let reply = self.state.login_username(&name);
                self.advance(Step::Username(&name), &reply.then);
                return reply;
            }
            (Phase::AwaitingPassword { user }, Command::Password { password }) => {
                let s: &State = &self.state;
                let reply = s.login_password(self.id, re, user, &password, &self.peer);
                (Step::Answered, reply)
            }
            (Phase::AwaitingNewPassword { user }, Command::NewPassword { password }) => {
                let reply = self.state.sign_up(self.id, re, user, &password, &self.peer);
                (Step::Answered, reply)
            }
            _ => (
                Step::Answered,
                Reply::err(text::NOT_LOGGED_IN).then(Then::AskUsername),
            ),
        };
        self.advance(step, &reply.then);
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::{Phase, Step};
    use crate::protocol::Then;

    fn user() -> String {
        "yoda".to_string()
    }

    #[test]
    fn a_login_walks_username_password_logged_in() {
        let p = Phase::AwaitingUsername.after(Step::Hello, &Then::AskUsername);
        assert_eq!(p, Phase::AwaitingUsername);
        let p = p.after(Step::Username("yoda"), &Then::AskPassword);
        assert_eq!(p, Phase::AwaitingPassword { user: user() });
        let p = p.after(Step::Answered, &Then::AskPassword);
        assert_eq!(p, Phase::AwaitingPassword { user: user() });
        let p = p.after(Step::Answered, &Then::LoggedIn);
        assert_eq!(p, Phase::LoggedIn { user: user() });
        assert_eq!(p.user(), Some("yoda"));
        let p = p.after(Step::Answered, &Then::Continue);
        assert_eq!(p, Phase::LoggedIn { user: user() });
        assert_eq!(
            p.after(Step::Answered, &Then::Exit { code: 0 }),
            Phase::Closing
        );
    }

    #[test]
    fn hello_keeps_the_phase_and_a_refused_name_asks_again() {
        let waiting = Phase::AwaitingPassword { user: user() };
        assert_eq!(
            waiting.clone().after(Step::Hello, &Then::AskUsername),
            waiting
        );
        let p = Phase::AwaitingUsername.after(Step::Username("x"), &Then::AskUsername);
        assert_eq!(p, Phase::AwaitingUsername);
        let p = Phase::AwaitingUsername.after(Step::Username("new"), &Then::AskNewPassword);
        assert_eq!(
            p,
            Phase::AwaitingNewPassword {
                user: "new".to_string()
            }
        );
        assert_eq!(p.after(Step::End, &Then::Continue), Phase::Closing);
    }
}
