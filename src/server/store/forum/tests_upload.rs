//! Tests of uploads and downloads: sizes, reservations, abandonment.

use super::tests::{fresh, upload};
use super::{Forum, ForumError, ForumStore};
use std::fs;
use std::io::Read;
use std::path::Path;
use tempfile::TempDir;

/// Names of the files in `uploads/TITLE`, sorted.
fn upload_dir(dir: &Path, title: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir.join("uploads").join(title))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn exact_size_streamed_in_pieces() {
    let (dir, forum) = fresh();
    forum.create("t", "Yoda").unwrap();
    let mut up = forum.begin_upload("t", "Yoda", "f.bin", 10).unwrap();
    up.write(b"0123").unwrap();
    up.write(b"").unwrap();
    up.write(b"456789").unwrap();
    assert_eq!(up.remaining(), 0);
    up.finish().unwrap();
    assert_eq!(upload_dir(dir.path(), "t"), vec!["f.bin"]);
    let (mut file, len) = forum.open_download("t", "f.bin").unwrap();
    let mut data = Vec::new();
    file.read_to_end(&mut data).unwrap();
    assert_eq!((len, data.as_slice()), (10, &b"0123456789"[..]));
    assert_eq!(forum.read("t").unwrap(), vec!["Yoda uploaded f.bin"]);
}

#[test]
fn short_upload_refused_and_cleaned() {
    let (dir, forum) = fresh();
    forum.create("t", "Yoda").unwrap();
    let mut up = forum.begin_upload("t", "Yoda", "f", 5).unwrap();
    up.write(b"abc").unwrap();
    assert!(matches!(up.finish(), Err(ForumError::Io(_))));
    assert!(upload_dir(dir.path(), "t").is_empty());
    assert!(forum.read("t").unwrap().is_empty());
    assert!(matches!(
        forum.open_download("t", "f"),
        Err(ForumError::NoFile)
    ));
    upload(&forum, "t", "Yoda", "f", b"abcde");
}

#[test]
fn too_long_upload_refused() {
    let (dir, forum) = fresh();
    forum.create("t", "Yoda").unwrap();
    let mut up = forum.begin_upload("t", "Yoda", "f", 3).unwrap();
    up.write(b"ab").unwrap();
    assert!(matches!(up.write(b"cd"), Err(ForumError::TooLarge)));
    drop(up);
    assert!(upload_dir(dir.path(), "t").is_empty());
    let big = forum.begin_upload("t", "Yoda", "g", (1 << 20) + 1);
    assert!(matches!(big, Err(ForumError::TooLarge)));
    assert!(forum.begin_upload("t", "Yoda", "g", 1 << 20).is_ok());
}

#[test]
fn dropped_upload_leaves_nothing() {
    let (dir, forum) = fresh();
    forum.create("t", "Yoda").unwrap();
    let mut up = forum.begin_upload("t", "Yoda", "video.mp4", 100).unwrap();
    up.write(&[7; 50]).unwrap();
    assert_eq!(upload_dir(dir.path(), "t").len(), 1);
    drop(up);
    assert!(upload_dir(dir.path(), "t").is_empty());
    assert!(forum.read("t").unwrap().is_empty());
    upload(&forum, "t", "Hans", "video.mp4", &[1; 100]);
    assert_eq!(forum.read("t").unwrap(), vec!["Hans uploaded video.mp4"]);
}

#[test]
fn duplicate_names_refused() {
    let (_dir, forum) = fresh();
    forum.create("t", "Yoda").unwrap();
    let mut first = forum.begin_upload("t", "Yoda", "f", 2).unwrap();
    let second = forum.begin_upload("t", "Hans", "f", 2);
    assert!(matches!(second, Err(ForumError::FileExists)));
    first.write(b"ok").unwrap();
    first.finish().unwrap();
    let again = forum.begin_upload("t", "Hans", "f", 2);
    assert!(matches!(again, Err(ForumError::FileExists)));
    // The same name is free in another thread.
    forum.create("u", "Yoda").unwrap();
    upload(&forum, "u", "Yoda", "f", b"other");
}

#[test]
fn upload_checks_names_and_thread() {
    let (_dir, forum) = fresh();
    let missing = forum.begin_upload("t", "Yoda", "f", 1);
    assert!(matches!(missing, Err(ForumError::NoThread)));
    forum.create("t", "Yoda").unwrap();
    for bad in ["../../etc/passwd", ".hidden", "a/b", ""] {
        let result = forum.begin_upload("t", "Yoda", bad, 1);
        assert!(matches!(result, Err(ForumError::BadName)));
        assert!(matches!(
            forum.open_download("t", bad),
            Err(ForumError::BadName)
        ));
    }
    assert!(matches!(
        forum.open_download("t", "f"),
        Err(ForumError::NoFile)
    ));
    assert!(matches!(
        forum.open_download("x", "f"),
        Err(ForumError::NoThread)
    ));
}

#[test]
fn thread_removed_during_upload() {
    let (dir, forum) = fresh();
    forum.create("t", "Yoda").unwrap();
    let mut up = forum.begin_upload("t", "Yoda", "f", 2).unwrap();
    up.write(b"hi").unwrap();
    forum.remove("t", "Yoda").unwrap();
    forum.create("t", "Hans").unwrap();
    assert!(matches!(up.finish(), Err(ForumError::NoThread)));
    assert!(forum.read("t").unwrap().is_empty());
    assert!(!dir.path().join("uploads/t").exists());
    upload(&forum, "t", "Hans", "f", b"new");
}

#[test]
fn concurrent_uploads_from_threads() {
    let dir = TempDir::new().unwrap();
    let forum = std::sync::Arc::new(Forum::open(dir.path(), 1 << 20).unwrap());
    forum.create("t", "Yoda").unwrap();
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let forum = std::sync::Arc::clone(&forum);
            std::thread::spawn(move || {
                upload(&forum, "t", "Yoda", &format!("f{i}"), &[i as u8; 1000]);
                forum.post("t", "Yoda", &format!("post {i}")).unwrap();
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let lines = forum.read("t").unwrap();
    assert_eq!(lines.len(), 8);
    assert_eq!(upload_dir(dir.path(), "t").len(), 4);
    drop(forum);
    let reopened = Forum::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(reopened.read("t").unwrap(), lines);
}
