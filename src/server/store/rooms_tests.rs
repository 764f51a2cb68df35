//! Tests of `rooms`.

use super::*;
use chrono::{Local, TimeZone};
use parking_lot::Mutex;
use std::sync::Arc;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn now() -> chrono::DateTime<Local> {
    Local.timestamp_opt(1_654_000_000, 0).unwrap()
}

#[test]
fn create_and_find_use_set_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let mut rooms = Rooms::open(dir.path()).unwrap();
    assert_eq!(rooms.create(names(&["ann", "bob", "ann"])).unwrap(), 1);
    assert_eq!(rooms.find(&names(&["bob", "ann"])), Some(1));
    assert_eq!(rooms.find(&names(&["ann", "bob", "bob"])), Some(1));
    assert_eq!(rooms.find(&names(&["ann"])), None);
    assert_eq!(rooms.find(&names(&["ann", "bob", "cy"])), None);
    assert_eq!(rooms.create(names(&["cy", "ann"])).unwrap(), 2);
    assert_eq!(rooms.members(1).unwrap(), names(&["ann", "bob"]));
    assert_eq!(rooms.rooms_of("ann"), [1, 2]);
    assert_eq!(rooms.rooms_of("cy"), [2]);
    assert!(rooms.rooms_of("dee").is_empty());
    let dup = rooms.create(names(&["bob", "ann"])).unwrap_err();
    assert_eq!(dup.kind(), io::ErrorKind::AlreadyExists);
    assert!(log_path(dir.path(), 2).exists());
    assert!(rooms.log(3).is_none() && rooms.members(3).is_none());
}

#[test]
fn rejects_unstorable_member_lists() {
    let dir = tempfile::tempdir().unwrap();
    let mut rooms = Rooms::open(dir.path()).unwrap();
    for bad in [
        vec![],
        names(&["a", ""]),
        names(&["a, b"]),
        names(&["a; b"]),
        names(&[" a"]),
    ] {
        let err = rooms.create(bad).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
    assert_eq!(rooms.create(names(&["a", "b"])).unwrap(), 1);
}

#[test]
fn rooms_persist_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut rooms = Rooms::open(dir.path()).unwrap();
    rooms.create(names(&["ann", "bob"])).unwrap();
    rooms.create(names(&["cy", "ann", "dee"])).unwrap();
    drop(rooms);
    let text = fs::read_to_string(dir.path().join(ROOMS_FILE)).unwrap();
    assert_eq!(text, "1; ann, bob\n2; cy, ann, dee\n");
    let mut rooms = Rooms::open(dir.path()).unwrap();
    assert_eq!(rooms.members(2).unwrap(), names(&["cy", "ann", "dee"]));
    assert_eq!(rooms.find(&names(&["dee", "cy", "ann"])), Some(2));
    assert_eq!(rooms.create(names(&["bob"])).unwrap(), 3);
}

#[test]
fn torn_rooms_line_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(ROOMS_FILE);
    fs::write(&path, "1; a, b\njunk\n2; c, d\n3; e, ").unwrap();
    let mut rooms = Rooms::open(dir.path()).unwrap();
    assert_eq!(rooms.rooms_of("c"), [2]);
    assert_eq!(rooms.find(&names(&["e"])), None);
    assert_eq!(rooms.create(names(&["e", "f"])).unwrap(), 3);
    drop(rooms);
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text, "1; a, b\njunk\n2; c, d\n3; e, f\n");
    let rooms = Rooms::open(dir.path()).unwrap();
    assert_eq!(rooms.members(3).unwrap(), names(&["e", "f"]));
}

#[test]
fn numbering_per_room_continues_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut rooms = Rooms::open(dir.path()).unwrap();
    let a = rooms.create(names(&["x", "y"])).unwrap();
    let b = rooms.create(names(&["x", "z"])).unwrap();
    rooms.log_mut(a).unwrap().append("x", "hi", now()).unwrap();
    rooms.log_mut(a).unwrap().append("y", "yo", now()).unwrap();
    rooms.log_mut(b).unwrap().append("z", "hey", now()).unwrap();
    drop(rooms);
    let mut rooms = Rooms::open(dir.path()).unwrap();
    let e = rooms
        .log_mut(a)
        .unwrap()
        .append("x", "again", now())
        .unwrap();
    assert_eq!(e.number, 3);
    let e = rooms
        .log_mut(b)
        .unwrap()
        .append("x", "back", now())
        .unwrap();
    assert_eq!(e.number, 2);
    let entries = rooms.log(a).unwrap().since(0).unwrap();
    let texts: Vec<&str> = entries.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, ["hi", "yo", "again"]);
}

/// Finding 4: a thousand rooms keep at most [`OPEN_LOGS`] files open, and every
/// room still takes messages and keeps its numbering.
#[test]
fn open_files_do_not_grow_with_rooms() {
    let dir = tempfile::tempdir().unwrap();
    let mut rooms = Rooms::open(dir.path()).unwrap();
    for i in 0..1000 {
        let id = rooms.create(names(&["a", &format!("u{i}")])).unwrap();
        rooms.log_mut(id).unwrap().append("a", "hi", now()).unwrap();
        assert!(rooms.open_files() <= OPEN_LOGS);
    }
    drop(rooms);
    let mut rooms = Rooms::open(dir.path()).unwrap();
    assert_eq!(rooms.open_files(), 0);
    let e = rooms
        .log_mut(7)
        .unwrap()
        .append("a", "again", now())
        .unwrap();
    assert_eq!(e.number, 2);
    assert_eq!(rooms.log(7).unwrap().since(0).unwrap().len(), 2);
}

#[test]
fn concurrent_appends_behind_a_mutex_have_no_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let mut rooms = Rooms::open(dir.path()).unwrap();
    let id = rooms.create(names(&["a", "b"])).unwrap();
    let rooms = Arc::new(Mutex::new(rooms));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let rooms = Arc::clone(&rooms);
            std::thread::spawn(move || {
                for i in 0..25 {
                    let mut guard = rooms.lock();
                    let log = guard.log_mut(id).unwrap();
                    log.append("a", &format!("w{w} m{i}"), Local::now())
                        .unwrap();
                }
            })
        })
        .collect();
    workers.into_iter().for_each(|h| h.join().unwrap());
    let all = rooms.lock().log(id).unwrap().since(0).unwrap();
    let numbers: Vec<u64> = all.iter().map(|e| e.number).collect();
    assert_eq!(numbers, (1..=100).collect::<Vec<u64>>());
}
