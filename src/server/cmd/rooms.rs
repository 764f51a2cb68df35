//! Separate rooms: `SRB USER...` builds one for a set of online users (one room per set),
//! `SRM ID TEXT` posts to it. Each room has its own log and gapless numbering; a room
//! message is appended and delivered in one store call, then fsynced before the sender
//! hears back, as broadcasts are.

use super::messaging::{clean, save_failed};
use crate::protocol::Event;
use crate::server::delivery::Audience;
use crate::server::state::{Reply, State};
use crate::server::store::history::LogEntry;
use crate::server::store::{Created, LogId};
use crate::text;
use crate::timefmt;
use chrono::Local;

fn text_event(text: String) -> Event {
    Event::text(text)
}

impl State {
    /// Checks every named user exists and is online and visible to `me`.
    fn check_room_members(&self, me: &str, users: &[String]) -> Result<(), String> {
        for u in users {
            match self.store().accounts().account_exists(u) {
                Ok(true) => {}
                Ok(false) => return Err(text::does_not_exist(u)),
                Err(e) => {
                    log::error!("store: {e}");
                    return Err(text::SAVE_FAILED.to_string());
                }
            }
        }
        let visible = self.visible_to(me, users.iter().map(String::as_str).collect());
        for u in users.iter().filter(|u| *u != me) {
            if !visible.contains(&u.as_str()) || !self.online_anywhere(u) {
                return Err(text::is_offline(u));
            }
        }
        Ok(())
    }

    /// `SRB USER...`: a room for `me` and the named users, unless that set has one.
    pub fn srb(&self, me: &str, users: &[String]) -> Reply {
        let mut members = vec![me.to_string()];
        for u in users {
            if !members.contains(u) {
                members.push(u.clone());
            }
        }
        if members.len() == 1 {
            return Reply::err(text::ROOM_SELF_ONLY);
        }
        if let Err(line) = self.check_room_members(me, &members[1..]) {
            return Reply::err(line);
        }
        let id = match self.store().rooms().create_room(&members) {
            Ok(Created::New(id)) => id,
            Ok(Created::Exists(id)) => return Reply::err(text::room_exists(id)),
            Err(e) => return save_failed(&e),
        };
        let list = members.join(", ");
        let to = Audience::Users {
            from: me,
            users: &members[1..],
        };
        self.deliver(to, &text_event(text::added_to_room(id, me, &list)));
        let line = text::room_created(id, &list);
        self.announce(&line);
        Reply::line(line)
    }

    /// `SRM ID TEXT`.
    pub fn srm(&self, me: &str, room: u64, body: &str) -> Reply {
        if body.trim().is_empty() {
            return Reply::err(text::usage("SRM <room id> <message>"));
        }
        let body = clean(body);
        let members = match self.store().rooms().room_members(room) {
            Ok(Some(members)) => members,
            Ok(None) => return Reply::err(text::ROOM_MISSING),
            Err(e) => return save_failed(&e),
        };
        if !members.iter().any(|m| m == me) {
            return Reply::err(text::NOT_IN_ROOM);
        }
        let ev = text_event(text::room_line(room, me, &body));
        let to = Audience::Users {
            from: me,
            users: &members,
        };
        let mut deliver = |_: &LogEntry| {
            self.deliver(to, &ev);
        };
        let logs = self.store().logs();
        let now = Local::now();
        let saved = match logs.append_log(LogId::Room(room), me, &body, now, &mut deliver) {
            Ok(saved) => saved,
            Err(e) => return save_failed(&e),
        };
        let (n, at) = (saved.entry.number, timefmt::format(&saved.entry.time));
        self.announce(&text::srm_logged(me, room, n, &at, &body));
        Reply::line(text::srm_sent(n, &at)).after_sync(saved.durable)
    }
}
