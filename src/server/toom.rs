//! TOOM's commands: logged broadcasts (`BCM`, and `broadcast`, which shares its log),
//! active users (`ATU`), separate rooms (`SRB`, `SRM`) and reading history (`RDM`).
//!
//! A log append (with its fsync) and the live delivery happen under that log's lock, so
//! message numbers are gapless and every recipient sees messages in number order; the
//! `core` lock is taken inside only to queue the deliveries.

use super::history::LogEntry;
use super::messaging::clean;
use super::state::{Reply, State};
use super::syncer::SyncPoint;
use crate::text;
use crate::timefmt;
use chrono::Local;
use std::collections::HashSet;

fn save_failed(e: std::io::Error) -> Reply {
    log::error!("cannot append to a message log: {e}");
    Reply::err(text::SAVE_FAILED)
}

impl State {
    /// Appends to messagelog.txt and delivers live; returns the entry, whether someone
    /// online was skipped because they blocked `user`, and what to fsync before confirming.
    fn log_broadcast(
        &self,
        user: &str,
        body: &str,
    ) -> std::io::Result<(LogEntry, bool, Option<SyncPoint>)> {
        let body = clean(body);
        let mut log = self.0.broadcasts.lock();
        let entry = log.append(user, &body, Local::now())?;
        let skipped = self.deliver_broadcast(user, &text::chat(user, &body));
        Ok((entry, skipped, log.sync_point()))
    }

    /// `broadcast TEXT`.
    pub fn broadcast(&self, user: &str, body: &str) -> Reply {
        match self.log_broadcast(user, body) {
            Ok((_, true, file)) => Reply::line(text::SOME_RECIPIENTS).after_sync(file),
            Ok((_, false, file)) => Reply::ok(vec![]).after_sync(file),
            Err(e) => save_failed(e),
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
            Err(e) => save_failed(e),
        }
    }

    /// `ATU`: other visible active users with address, UDP port and login time.
    pub fn atu(&self, me: &str) -> Reply {
        let mut rows: Vec<(u64, String)> = {
            let core = self.0.core.lock();
            core.online
                .iter()
                .filter(|(u, _)| *u != me && !core.blocked(u, me))
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
        let core = self.0.core.lock();
        for u in users {
            if !core.accounts.contains_key(u) {
                return Err(format!("Error. {u} does not exist"));
            }
        }
        for u in users {
            if u != me && (!core.online.contains_key(u) || core.blocked(u, me)) {
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
        let mut rooms = self.0.rooms.lock();
        if let Some(id) = rooms.find(&members) {
            return Reply::err(format!(
                "a separate room (ID: {id}) already created for these users"
            ));
        }
        let id = match rooms.create(members.clone()) {
            Ok(id) => id,
            Err(e) => return save_failed(e),
        };
        let list = members.join(", ");
        let notice = format!("You have been added to separate room {id} by {me} (users: {list})");
        self.0.core.lock().send_text_to(&members[1..], me, &notice);
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
        let mut rooms = self.0.rooms.lock();
        let Some(members) = rooms.members(room).map(<[String]>::to_vec) else {
            return Reply::err(text::ROOM_MISSING);
        };
        if !members.iter().any(|m| m == me) {
            return Reply::err(text::NOT_IN_ROOM);
        }
        let log = rooms.log_mut(room).expect("every room has a log");
        let entry = match log.append(me, &body, Local::now()) {
            Ok(e) => e,
            Err(e) => return save_failed(e),
        };
        let file = log.sync_point();
        let line = format!("room-{room}: {me}: {body}");
        let others = members.iter().filter(|m| *m != me);
        self.0.core.lock().send_text_to(others, me, &line);
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
        let hidden: HashSet<String> = self
            .0
            .core
            .lock()
            .blocks
            .get(me)
            .cloned()
            .unwrap_or_default();
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
                return Reply::err("Error. The server could not read the history, try again");
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
    ) -> std::io::Result<Vec<String>> {
        let entries = self.0.broadcasts.lock().since(t)?;
        Ok(entries.iter().filter(|e| shown(e)).map(rdm_line).collect())
    }

    fn read_rooms(
        &self,
        me: &str,
        t: i64,
        shown: &dyn Fn(&LogEntry) -> bool,
    ) -> std::io::Result<Vec<String>> {
        let rooms = self.0.rooms.lock();
        let mut out = Vec::new();
        for id in rooms.rooms_of(me) {
            let Some(log) = rooms.log(id) else { continue };
            let lines: Vec<String> = log
                .since(t)?
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
