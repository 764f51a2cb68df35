//! The command layer: one file per family of commands, named for what they do, each
//! an `impl State` block. A command is two steps: a domain function that does it and
//! answers with what happened (`send_message` → `Sent` or `NotSent`, `change_block`,
//! `seen_since`, `build_room` and `post_to_room` → `RoomRefused`, `history` → `History`,
//! `udp_route` → `UdpRoute` or `PeerRefused`, the forum store's `ForumError`), tested on
//! those values without sockets; and the handler the dispatcher calls, which renders that
//! as a [`Reply`] of `text`'s sentences. Handlers reach durable state only through the
//! store seam and other users only through `State::deliver`.
//!
//! - `messaging` — `message`, `block`, `unblock`;
//! - `presence` — `whoelse`, `whoelsesince`, `ATU`;
//! - `broadcast` — `broadcast`, `BCM`;
//! - `rooms` — `SRB`, `SRM`;
//! - `history` — `RDM`;
//! - `forum` — `CRT`, `MSG`, `DLT`, `EDT`, `LST`, `RDT`, `RMV` (`UPD`/`DWN` stream in
//!   `session::streaming`);
//! - `p2p` — `startprivate` and its answer, `UDP`;
//! - `admin` — `SHT`.
//!
//! Logging in and out is `server::login`'s; [`dispatch`] routes the rest.

mod admin;
mod broadcast;
pub mod forum;
mod history;
pub mod messaging;
mod p2p;
mod presence;
mod rooms;

use super::state::{ConnId, Reply, State};
use crate::protocol::Command;
use crate::text;

/// Runs one logged-in command of `user` (on connection `conn`), except the transfers.
pub fn dispatch(s: &State, conn: ConnId, user: &str, cmd: Command) -> Reply {
    if let Some(name) = cmd_name(&cmd) {
        s.announce(&text::issued(user, name));
    }
    match cmd {
        Command::Message { to, text } => s.message(user, &to, &text),
        Command::Broadcast { text } => s.broadcast(user, &text),
        Command::WhoElse => s.whoelse(user),
        Command::WhoElseSince { secs } => s.whoelsesince(user, secs),
        Command::Block { user: who } => s.set_block(user, &who, true),
        Command::Unblock { user: who } => s.set_block(user, &who, false),
        Command::Logout { how } => s.logout(conn, user, how),
        Command::Bcm { text } => s.bcm(user, &text),
        Command::Atu => s.atu(user),
        Command::Srb { users } => s.srb(user, &users),
        Command::Srm { room, text } => s.srm(user, room, &text),
        Command::Rdm { kind, since } => s.rdm(user, &kind, &since),
        Command::Crt { title } => s.crt(user, &title),
        Command::Msg { title, text } => s.msg(user, &title, &text),
        Command::Dlt { title, n } => s.dlt(user, &title, n),
        Command::Edt { title, n, text } => s.edt(user, &title, n, &text),
        Command::Lst => s.lst(),
        Command::Rdt { title } => s.rdt(&title),
        Command::Rmv { title } => s.rmv(user, &title),
        Command::Sht { password } => s.sht(&password),
        Command::StartPrivate { user: who } => s.start_private(user, &who),
        Command::PrivateAnswer {
            from,
            accept,
            fingerprint,
        } => s.private_answer(user, &from, accept, fingerprint),
        Command::PrivateCheck { user: who } => s.check_private(user, &who),
        Command::PrivateWithdraw { user: who } => s.withdraw_private(user, &who),
        Command::Activity => Reply::ok(vec![]),
        Command::Udp { user: who, file } => s.udp(user, &who, &file),
        Command::Hello { .. }
        | Command::Username { .. }
        | Command::Password { .. }
        | Command::NewPassword { .. } => Reply::err(text::ALREADY_LOGGED_IN),
        Command::Upd { .. } | Command::Dwn { .. } => unreachable!("streamed by the session"),
    }
}

/// The name the server log uses for a command (`yoda issued CRT command`).
fn cmd_name(cmd: &Command) -> Option<&'static str> {
    Some(match cmd {
        Command::Message { .. } => "message",
        Command::Broadcast { .. } => "broadcast",
        Command::WhoElse => "whoelse",
        Command::WhoElseSince { .. } => "whoelsesince",
        Command::Block { .. } => "block",
        Command::Unblock { .. } => "unblock",
        Command::Bcm { .. } => "BCM",
        Command::Atu => "ATU",
        Command::Srb { .. } => "SRB",
        Command::Srm { .. } => "SRM",
        Command::Rdm { .. } => "RDM",
        Command::Crt { .. } => "CRT",
        Command::Msg { .. } => "MSG",
        Command::Dlt { .. } => "DLT",
        Command::Edt { .. } => "EDT",
        Command::Lst => "LST",
        Command::Rdt { .. } => "RDT",
        Command::Rmv { .. } => "RMV",
        Command::Sht { .. } => "SHT",
        Command::StartPrivate { .. } => "startprivate",
        Command::Udp { .. } => "UDP",
        _ => return None,
    })
}
