//! TOOM's commands: logged broadcasts (`BCM`, and `broadcast`, which shares its log),
//! active users (`ATU`), separate rooms (`SRB`, `SRM`) and reading history (`RDM`).
//!
//! A log append and its live delivery are one store call (`LogStore::append_log`), so
//! message numbers are gapless and every recipient sees messages in number order; the
//! fsync comes after, before the sender is told.

use super::delivery::Audience;
use super::history::LogEntry;
use super::messaging::{clean, save_failed};
use super::state::{Reply, State};
use super::store::{Created, LogId, Saved, StoreError};
use crate::protocol::Event;
use crate::text;
use crate::timefmt;
use chrono::Local;
use std::collections::HashSet;

fn text_event(text: String) -> Event {
    Event::Text { text }
}

impl State {
    /// Appends to messagelog.txt and delivers live; returns the entry, whether someone
    /// online was skipped because they blocked `user`, and what to fsync before confirming.
    fn log_broadcast(
        &self,
        user: &str,
        body: &str,
    ) -> Result<(LogEntry, bool, Option<super::syncer::SyncPoint>), StoreError> {
        let body = clean(body);
        let line = text::chat(user, &body);
        let mut skipped = false;
        let mut deliver = |_: &LogEntry| skipped = self.deliver_broadcast(user, &line);
        let logs = self.store().logs();
        let Saved { entry, durable } =
            logs.append_log(LogId::Broadcast, user, &body, Local::now(), &mut deliver)?;
        Ok((entry, skipped, durable))
    }

    /// `broadcast TEXT`.
    pub fn broadcast(&self, user: &str, body: &str) -> Reply {
        match self.log_broadcast(user, body) {
            Ok((_, true, file)) => Reply::line(text::SOME_RECIPIENTS).after_sync(file),
            Ok((_, false, file)) => Reply::ok(vec![]).after_sync(file),
            Err(e) => save_failed(&e),
        }
    }

    /// `BCM TEXT`.
    pub fn bcm(&self, user: &str, body: &str) -> Reply {
        if body.trim().is_empty() {
            return Reply::err(text::usage("BCM <message>"));
        }
        match self.log_broadcast(user, body) {
            Ok((e, _, file)) => {
                let at = timefmt::format(&e.time);
                self.announce(&format!(
                    "{user} broadcasted BCM #{} \"{}\" at {at}.",
                    e.number, e.text
                ));
                Reply::line(format!(
                    "Broadcast message, #{} broadcast at {at}.",
                    e.number
                ))
                .after_sync(file)
            }
            Err(e) => save_failed(&e),
        }
    }

    /// `ATU`: other visible active users with address, UDP port and login time.
    pub fn atu(&self, me: &str) -> Reply {
        let mut rows: Vec<(u64, String)> = {
            let core = self.0.core.lock();
            core.roster
                .users()
                .filter(|(u, _)| *u != me && core.blocks.visible(u, me))
                .map(|(u, o)| {
                    let since = timefmt::format(&o.since);
                    let row = format!("{u}, {}, {}, active since {since}.", o.ip, o.udp_port);
                    (o.seq, row)
                })
                .collect()
        };
        if rows.is_empty() {
            return Reply::line(text::NO_OTHER_ACTIVE);
        }
        rows.sort();
        Reply::ok(rows.into_iter().map(|(_, r)| r).collect())
    }

    /// Checks every named user exists and is online and visible to `me`.
    fn check_room_members(&self, me: &str, users: &[String]) -> Result<(), String> {
        for u in users {
            match self.store().accounts().account_exists(u) {
                Ok(true) => {}
                Ok(false) => return Err(format!("Error. {u} does not exist")),
                Err(e) => {
                    log::error!("store: {e}");
                    return Err(text::SAVE_FAILED.to_string());
                }
            }
        }
        let core = self.0.core.lock();
        for u in users {
            if u != me && (!core.roster.is_online(u) || !core.blocks.visible(u, me)) {
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
            Ok(Created::Exists(id)) => {
                return Reply::err(format!(
                    "a separate room (ID: {id}) already created for these users"
                ))
            }
            Err(e) => return save_failed(&e),
        };
        let list = members.join(", ");
        let notice = format!("You have been added to separate room {id} by {me} (users: {list})");
        let to = Audience::Users {
            from: me,
            users: &members[1..],
        };
        self.deliver(to, &text_event(notice));
        let line = format!(
            "Separate chat room has been created, room ID: {id}, users in this room: {list}"
        );
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
        let ev = text_event(format!("room-{room}: {me}: {body}"));
        let to = Audience::Users {
            from: me,
            users: &members,
        };
        let mut deliver = |_: &LogEntry| {
            self.deliver(to, &ev);
        };
        let logs = self.store().logs();
        let (entry, file) =
            match logs.append_log(LogId::Room(room), me, &body, Local::now(), &mut deliver) {
                Ok(Saved { entry, durable }) => (entry, durable),
                Err(e) => return save_failed(&e),
            };
        let at = timefmt::format(&entry.time);
        self.announce(&format!(
            "{me} issued a message in separate room {room}: #{}; {at}; {me}; {body}",
            entry.number
        ));
        Reply::line(format!(
            "Separate room message, #{} issued at {at}.",
            entry.number
        ))
        .after_sync(file)
    }

    /// `RDM b|s TIME`: messages strictly later than TIME, minus those from users `me`
    /// has blocked.
    pub fn rdm(&self, me: &str, kind: &str, since: &str) -> Reply {
        if kind != "b" && kind != "s" {
            return Reply::err(text::BAD_MESSAGE_TYPE);
        }
        let Some(t) = timefmt::parse(since) else {
            return Reply::err(text::BAD_TIMESTAMP);
        };
        let hidden: HashSet<String> = self.0.core.lock().blocks.of(me);
        let shown = |e: &LogEntry| !hidden.contains(&e.user);
        let res = if kind == "b" {
            self.read_broadcasts(t.timestamp(), &shown)
        } else {
            self.read_rooms(me, t.timestamp(), &shown)
        };
        let body = match res {
            Ok(body) => body,
            Err(e) => {
                log::error!("cannot read a message log: {e}");
                return Reply::err(text::READ_FAILED);
            }
        };
        if body.is_empty() {
            return Reply::line(text::NO_NEW_MESSAGE);
        }
        let what = if kind == "b" {
            "Broadcast messages"
        } else {
            "Messages in separate rooms"
        };
        let mut lines = vec![format!("{what} since {}:", timefmt::format(&t))];
        lines.extend(body);
        Reply::ok(lines)
    }

    fn read_broadcasts(
        &self,
        t: i64,
        shown: &dyn Fn(&LogEntry) -> bool,
    ) -> Result<Vec<String>, StoreError> {
        let entries = self.store().logs().log_since(LogId::Broadcast, t)?;
        Ok(entries.iter().filter(|e| shown(e)).map(rdm_line).collect())
    }

    fn read_rooms(
        &self,
        me: &str,
        t: i64,
        shown: &dyn Fn(&LogEntry) -> bool,
    ) -> Result<Vec<String>, StoreError> {
        let store = self.store();
        let mut out = Vec::new();
        for id in store.rooms().rooms_of(me)? {
            let lines: Vec<String> = store
                .logs()
                .log_since(LogId::Room(id), t)?
                .iter()
                .filter(|e| shown(e))
                .map(rdm_line)
                .collect();
            if !lines.is_empty() {
                out.push(format!("room-{id}:"));
                out.extend(lines);
            }
        }
        Ok(out)
    }
}

/// `#1; yoda: TEXT at 1 Jun 2022 16:05:00.`
fn rdm_line(e: &LogEntry) -> String {
    format!(
        "#{}; {}: {} at {}.",
        e.number,
        e.user,
        e.text,
        timefmt::format(&e.time)
    )
}
