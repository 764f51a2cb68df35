//! The main loop's helpers that are about people rather than requests: the private-chat
//! question (answered by a y/n line, asked again after any other line, withdrawn), the
//! hints printed with a parse error on a terminal, and who is online for Tab.

use super::{help, Client};
use crate::protocol::{Command, Response, Then};
use crate::text;

impl Client {
    /// On a terminal, Tab completes online users: start from who is online now.
    pub(super) fn learn_who_is_online(&mut self) {
        let Some(editing) = self.link.shared.editing.clone() else {
            return;
        };
        if let Some(resp) = self.link.call_quiet(Command::WhoElse) {
            resp.lines
                .iter()
                .filter(|u| !u.contains(' '))
                .for_each(|u| editing.user_online(u));
        }
    }

    /// A `y`/`yes`/`n`/`no` line answers the oldest pending private-messaging request;
    /// any other line is a command (true: the line was an answer).
    pub(super) fn answer_consent(&mut self, line: &str) -> bool {
        let accept = match line.trim() {
            "y" | "Y" | "yes" => true,
            "n" | "N" | "no" => false,
            _ => return false,
        };
        let Some(from) = self.link.shared.consent.lock().pop_front() else {
            return false;
        };
        let cmd = Command::PrivateAnswer {
            from: from.clone(),
            accept,
            fingerprint: self.chat.fingerprint().filter(|_| accept),
        };
        if let Some(Response {
            then: Then::AwaitPeer { token },
            ..
        }) = self.link.call(cmd)
        {
            self.chat.expect(&from, &token);
        }
        true
    }

    /// Prints a parse error; on a terminal with a hint: the command meant by an unknown
    /// one, the usage after a forum command's `Incorrect syntax`.
    pub(super) fn explain(&self, line: &str, error: String) {
        let cmd = line.split(' ').next().unwrap_or("");
        if !self.terminal {
            return self.printer.line(&error);
        }
        if error == text::INVALID_COMMAND {
            if let Some(meant) = help::closest(cmd) {
                return self.printer.line(&text::did_you_mean(cmd, meant));
            }
        }
        self.printer.line(&error);
        if error == text::incorrect_syntax(cmd) {
            if let Some(usage) = help::usage_of(cmd) {
                self.printer.line(&format!("Usage: {usage}"));
            }
        }
    }

    /// After a line that was not an answer, the oldest pending question is asked again,
    /// on a line of its own.
    pub(super) fn ask_again(&self) {
        if let Some(from) = self.link.shared.consent.lock().front() {
            self.printer.prompt(&text::private_question(from));
        }
    }

    /// `stopprivate USER` with no session but our request to USER pending: withdraw it.
    pub(super) fn withdraw(&self, user: &str) -> bool {
        let mut asked = self.link.shared.asked.lock();
        let found = !self.chat.has_session(user) && asked.iter().any(|u| u == user);
        asked.retain(|u| u != user);
        found
    }
}
