//! Separate rooms: `SRB USER...` builds one for a set of online users (one room per set),
//! `SRM ID TEXT` posts to it. Each room has its own log and gapless numbering; a room
//! message is appended and delivered in one store call, then fsynced before the sender
//! hears back, as broadcasts are.

use super::messaging::{clean, save_failed};
use crate::protocol::Event;
use crate::server::delivery::Audience;
use crate::server::state::{Reply, State};
use crate::server::store::history::LogEntry;
use crate::server::store::{Created, LogId, Saved, StoreError};
use crate::text;
use crate::timefmt;
use chrono::Local;

/// Why `SRB` built no room, or `SRM` posted nothing.
#[derive(Debug)]
pub enum RoomRefused {
    /// `SRB` named nobody but the asker.
    SelfOnly,
    NoSuchUser(String),
    /// Not logged in, or not visible to the asker.
    Offline(String),
    /// That set of users has this room already.
    Exists(u64),
    Missing,
    NotMember,
    EmptyText,
    Store(StoreError),
}

impl RoomRefused {
    fn reply(self) -> Reply {
        match self {
            RoomRefused::SelfOnly => Reply::err(text::ROOM_SELF_ONLY),
            RoomRefused::NoSuchUser(u) => Reply::err(text::does_not_exist(&u)),
            RoomRefused::Offline(u) => Reply::err(text::is_offline(&u)),
            RoomRefused::Exists(id) => Reply::err(text::room_exists(id)),
            RoomRefused::Missing => Reply::err(text::ROOM_MISSING),
            RoomRefused::NotMember => Reply::err(text::NOT_IN_ROOM),
            RoomRefused::EmptyText => Reply::err(text::usage("SRM <room id> <message>")),
            RoomRefused::Store(e) => save_failed(&e),
        }
    }
}

impl State {
    /// Checks every named user exists and is online and visible to `me`.
    fn check_room_members(&self, me: &str, users: &[String]) -> Result<(), RoomRefused> {
        for u in users {
            match self.store().accounts().account_exists(u) {
                Ok(true) => {}
                Ok(false) => return Err(RoomRefused::NoSuchUser(u.clone())),
                Err(e) => return Err(RoomRefused::Store(e)),
            }
        }
        let visible = self.visible_to(me, users.iter().map(String::as_str).collect());
        for u in users.iter().filter(|u| *u != me) {
            if !visible.contains(&u.as_str()) || !self.online_anywhere(u) {
                return Err(RoomRefused::Offline(u.clone()));
            }
        }
        Ok(())
    }

    /// `SRB USER...`, rendered for the user.
    pub fn srb(&self, me: &str, users: &[String]) -> Reply {
        match self.build_room(me, users) {
            Ok((id, members)) => {
                let line = text::room_created(id, &members.join(", "));
                self.announce(&line);
                Reply::line(line)
            }
            Err(e) => e.reply(),
        }
    }

    /// `SRB USER...`: a room for `me` and the named users (online, each once), unless
    /// that set has one; its members (`me` first) are told.
    pub fn build_room(
        &self,
        me: &str,
        users: &[String],
    ) -> Result<(u64, Vec<String>), RoomRefused> {
        let mut members = vec![me.to_string()];
        for u in users {
            if !members.contains(u) {
                members.push(u.clone());
            }
        }
        if members.len() == 1 {
            return Err(RoomRefused::SelfOnly);
        }
        self.check_room_members(me, &members[1..])?;
        let id = match self.store().rooms().create_room(&members) {
            Ok(Created::New(id)) => id,
            Ok(Created::Exists(id)) => return Err(RoomRefused::Exists(id)),
            Err(e) => return Err(RoomRefused::Store(e)),
        };
        let to = Audience::Users {
            from: me,
            users: &members[1..],
        };
        let added = text::added_to_room(id, me, &members.join(", "));
        self.deliver(to, &Event::text(added));
        Ok((id, members))
    }

    /// `SRM ID TEXT`, rendered for the user.
    pub fn srm(&self, me: &str, room: u64, body: &str) -> Reply {
        let body = clean(body);
        match self.post_to_room(me, room, &body) {
            Ok(saved) => {
                let (n, at) = (saved.entry.number, timefmt::format(&saved.entry.time));
                self.announce(&text::srm_logged(me, room, n, &at, &body));
                Reply::line(text::srm_sent(n, &at)).after_sync(saved.durable)
            }
            Err(e) => e.reply(),
        }
    }

    /// `SRM ID TEXT`: appended to the room's log and delivered to its other members
    /// online (on any node) in one store call; fsynced once `Saved::durable` is.
    pub fn post_to_room(&self, me: &str, room: u64, body: &str) -> Result<Saved, RoomRefused> {
        if body.trim().is_empty() {
            return Err(RoomRefused::EmptyText);
        }
        let members = match self.store().rooms().room_members(room) {
            Ok(Some(members)) => members,
            Ok(None) => return Err(RoomRefused::Missing),
            Err(e) => return Err(RoomRefused::Store(e)),
        };
        if !members.iter().any(|m| m == me) {
            return Err(RoomRefused::NotMember);
        }
        let ev = Event::text(text::room_line(room, me, body));
        let to = Audience::Users {
            from: me,
            users: &members,
        };
        let mut deliver = |_: &LogEntry| {
            self.deliver(to, &ev);
        };
        let logs = self.store().logs();
        let now = Local::now();
        let saved = logs.append_log(LogId::Room(room), me, body, now, &mut deliver);
        saved.map_err(RoomRefused::Store)
    }
}

#[cfg(test)]
mod tests {
    use super::RoomRefused;
    use crate::server::{testing, State};
    use std::time::Instant;

    /// Without sockets: hans and luke are logged in (on the roster), leia is not.
    fn state() -> (tempfile::TempDir, State) {
        let (dir, state) = testing::state("yoda a\nhans b\nluke c\nleia d\n");
        for (id, user) in ["yoda", "hans", "luke"].into_iter().enumerate() {
            let mut core = state.0.core.lock();
            core.roster
                .log_in(user, id as u64, &testing::peer(0), Instant::now());
        }
        (dir, state)
    }

    #[test]
    fn one_room_per_set_of_online_users_and_only_members_post() {
        let (_dir, s) = state();
        let users = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let (id, members) = s
            .build_room("yoda", &users(&["hans", "luke", "hans"]))
            .unwrap();
        assert_eq!((id, members), (1, users(&["yoda", "hans", "luke"])));
        let again = s.build_room("yoda", &users(&["luke", "hans"]));
        assert!(matches!(again, Err(RoomRefused::Exists(1))));
        let refused = |names: &[&str]| s.build_room("yoda", &users(names)).unwrap_err();
        assert!(matches!(refused(&["yoda"]), RoomRefused::SelfOnly));
        assert!(matches!(refused(&["bob"]), RoomRefused::NoSuchUser(u) if u == "bob"));
        assert!(matches!(refused(&["leia"]), RoomRefused::Offline(u) if u == "leia"));

        assert_eq!(s.post_to_room("hans", 1, "hi").unwrap().entry.number, 1);
        assert_eq!(s.post_to_room("yoda", 1, "ho").unwrap().entry.number, 2);
        let post = |who, room, text| s.post_to_room(who, room, text).err().expect("refused");
        assert!(matches!(
            post("leia", 1, "let me in"),
            RoomRefused::NotMember
        ));
        assert!(matches!(post("yoda", 9, "anyone?"), RoomRefused::Missing));
        assert!(matches!(post("yoda", 1, "  "), RoomRefused::EmptyText));
    }
}
