//! Tests of thread and post handling, persistence and wipe.

use super::{Forum, ForumError, ForumStore};
use std::fs;
use std::path::Path;
use tempfile::TempDir;

/// A forum in a fresh temp dir (kept alive by the returned guard).
pub(super) fn fresh() -> (TempDir, Forum) {
    let dir = TempDir::new().unwrap();
    let forum = Forum::open(dir.path(), 1 << 20).unwrap();
    (dir, forum)
}

/// Uploads `data` as `file` into `title` in one go.
pub(super) fn upload(forum: &Forum, title: &str, user: &str, file: &str, data: &[u8]) {
    let mut up = forum
        .begin_upload(title, user, file, data.len() as u64)
        .unwrap();
    up.write(data).unwrap();
    up.finish().unwrap();
}

fn thread_file(dir: &Path, title: &str) -> String {
    fs::read_to_string(dir.join("threads").join(title)).unwrap()
}

#[test]
fn sample_sequence() {
    let (dir, forum) = fresh();
    forum.create("3331", "Yoda").unwrap();
    assert!(matches!(
        forum.create("3331", "Hans"),
        Err(ForumError::ThreadExists)
    ));
    forum.create("9331", "Yoda").unwrap();
    assert_eq!(
        forum.post("3331", "Yoda", "Networks is awesome").unwrap(),
        1
    );
    assert!(forum.read("9331").unwrap().is_empty());
    assert_eq!(
        forum.read("3331").unwrap(),
        vec!["1 Yoda: Networks is awesome"]
    );
    assert_eq!(forum.list().unwrap(), vec!["3331", "9331"]);

    upload(&forum, "3331", "Yoda", "test.exe", b"MZ binary");
    let stored = dir.path().join("uploads/3331/test.exe");
    assert_eq!(fs::read(stored).unwrap(), b"MZ binary");
    assert_eq!(forum.post("3331", "Obi-wan", "Hello there").unwrap(), 2);
    let expected = vec![
        "1 Yoda: Networks is awesome",
        "Yoda uploaded test.exe",
        "2 Obi-wan: Hello there",
    ];
    assert_eq!(forum.read("3331").unwrap(), expected);
    let file = format!("Yoda\n{}\n", expected.join("\n"));
    assert_eq!(thread_file(dir.path(), "3331"), file);
}

#[test]
fn edit_only_own_posts() {
    let (_dir, forum) = fresh();
    forum.create("3331", "Yoda").unwrap();
    forum.post("3331", "Yoda", "first").unwrap();
    forum.post("3331", "Hans", "second").unwrap();
    forum
        .edit("3331", 1, "Yoda", "edited\r\nacross lines")
        .unwrap();
    let refused = forum.edit("3331", 2, "Yoda", "hijack");
    assert!(matches!(refused, Err(ForumError::NotAuthor)));
    assert!(matches!(
        forum.edit("3331", 3, "Yoda", "x"),
        Err(ForumError::NoMessage(3))
    ));
    assert!(matches!(
        forum.edit("3331", 0, "Yoda", "x"),
        Err(ForumError::NoMessage(0))
    ));
    assert_eq!(
        forum.read("3331").unwrap(),
        vec!["1 Yoda: edited  across lines", "2 Hans: second"]
    );
}

#[test]
fn delete_renumbers() {
    let (dir, forum) = fresh();
    forum.create("t", "Yoda").unwrap();
    forum.post("t", "Yoda", "one").unwrap();
    forum.post("t", "Yoda", "two").unwrap();
    upload(&forum, "t", "Yoda", "f.txt", b"x");
    forum.post("t", "Yoda", "three").unwrap();
    assert!(matches!(
        forum.delete("t", 2, "Hans"),
        Err(ForumError::NotAuthor)
    ));
    assert!(matches!(
        forum.delete("t", 9, "Yoda"),
        Err(ForumError::NoMessage(9))
    ));
    forum.delete("t", 2, "Yoda").unwrap();
    let expected = vec!["1 Yoda: one", "Yoda uploaded f.txt", "2 Yoda: three"];
    assert_eq!(forum.read("t").unwrap(), expected);
    assert_eq!(
        thread_file(dir.path(), "t"),
        format!("Yoda\n{}\n", expected.join("\n"))
    );
    assert_eq!(forum.post("t", "Hans", "four").unwrap(), 3);
}

#[test]
fn remove_by_creator_only() {
    let (dir, forum) = fresh();
    forum.create("3331", "Yoda").unwrap();
    upload(&forum, "3331", "Hans", "lecture1.mp4", b"video");
    assert!(matches!(
        forum.remove("3331", "Hans"),
        Err(ForumError::NotCreator)
    ));
    assert!(dir.path().join("uploads/3331/lecture1.mp4").exists());
    forum.remove("3331", "Yoda").unwrap();
    assert!(!dir.path().join("threads/3331").exists());
    assert!(!dir.path().join("uploads/3331").exists());
    assert_eq!(fs::read_dir(dir.path().join("uploads")).unwrap().count(), 0);
    assert!(matches!(forum.read("3331"), Err(ForumError::NoThread)));
    assert!(matches!(
        forum.remove("3331", "Yoda"),
        Err(ForumError::NoThread)
    ));
    assert!(forum.list().unwrap().is_empty());
}

#[test]
fn missing_threads_and_bad_names() {
    let (_dir, forum) = fresh();
    assert!(matches!(
        forum.post("nope", "Yoda", "x"),
        Err(ForumError::NoThread)
    ));
    assert!(matches!(
        forum.delete("nope", 1, "Yoda"),
        Err(ForumError::NoThread)
    ));
    assert!(matches!(forum.read("nope"), Err(ForumError::NoThread)));
    for title in ["../x", ".hidden", "", "a/b"] {
        assert!(matches!(
            forum.create(title, "Yoda"),
            Err(ForumError::BadName)
        ));
        assert!(matches!(forum.read(title), Err(ForumError::BadName)));
    }
    assert!(matches!(
        forum.create("ok", "bad user"),
        Err(ForumError::BadName)
    ));
}

#[test]
fn persists_across_reopen() {
    let (dir, forum) = fresh();
    forum.create("3331", "Yoda").unwrap();
    forum.create("empty", "Hans").unwrap();
    forum.post("3331", "Yoda", "a: colon inside").unwrap();
    upload(&forum, "3331", "Hans", "test.exe", b"data");
    forum.post("3331", "Hans", "").unwrap();
    let before = forum.read("3331").unwrap();
    drop(forum);
    // Debris a crash could leave behind.
    fs::write(dir.path().join("threads/.3331.tmp"), "torn").unwrap();
    fs::write(dir.path().join("uploads/3331/.big.part-1-2"), "partial").unwrap();
    fs::create_dir_all(dir.path().join("uploads/gone")).unwrap();

    let forum = Forum::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(forum.list().unwrap(), vec!["3331", "empty"]);
    assert_eq!(forum.read("3331").unwrap(), before);
    assert!(forum.read("empty").unwrap().is_empty());
    assert!(matches!(
        forum.remove("empty", "Yoda"),
        Err(ForumError::NotCreator)
    ));
    assert!(!dir.path().join("threads/.3331.tmp").exists());
    assert!(!dir.path().join("uploads/3331/.big.part-1-2").exists());
    assert!(!dir.path().join("uploads/gone").exists());
    let (mut file, len) = forum.open_download("3331", "test.exe").unwrap();
    assert_eq!(len, 4);
    let mut data = String::new();
    std::io::Read::read_to_string(&mut file, &mut data).unwrap();
    assert_eq!(data, "data");
    assert_eq!(forum.post("3331", "Yoda", "next").unwrap(), 3);
}

#[test]
fn wipe_deletes_everything() {
    let (dir, forum) = fresh();
    forum.create("a", "Yoda").unwrap();
    forum.create("b", "Hans").unwrap();
    upload(&forum, "a", "Yoda", "f", b"123");
    forum.wipe().unwrap();
    assert!(forum.list().unwrap().is_empty());
    assert_eq!(fs::read_dir(dir.path().join("threads")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(dir.path().join("uploads")).unwrap().count(), 0);
    forum.create("a", "Hans").unwrap();
    assert!(forum.read("a").unwrap().is_empty());
    drop(forum);
    let forum = Forum::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(forum.list().unwrap(), vec!["a"]);
}
