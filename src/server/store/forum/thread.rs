//! The in-memory form of one thread and its exact on-disk text format.
//!
//! A thread file is the creator's username on the first line, then one line
//! per entry: `N user: text` for posts (numbered from 1 without gaps) and
//! `user uploaded FILE` for uploads (not numbered). Post numbers are not
//! stored in memory; they are derived from position when rendering, so
//! deleting a post renumbers the later ones for free.

use super::ForumError;

/// One entry of a thread, in the order it was added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Entry {
    /// A message; its number is its rank among the thread's posts.
    Post { user: String, text: String },
    /// A file uploaded into the thread.
    Upload { user: String, file: String },
}

/// A thread as kept in memory.
#[derive(Clone, Debug)]
pub(super) struct Thread {
    /// Username of whoever created the thread (may remove it).
    pub creator: String,
    /// Posts and uploads, oldest first.
    pub entries: Vec<Entry>,
    /// Distinguishes this thread from an earlier one with the same title, so
    /// an upload begun before a remove/create cannot land in the new thread.
    pub generation: u64,
}

impl Thread {
    /// A new, empty thread.
    pub fn new(creator: &str, generation: u64) -> Thread {
        Thread {
            creator: creator.to_string(),
            entries: Vec::new(),
            generation,
        }
    }

    /// Parses a thread file's text. Returns `None` if there is no creator
    /// line; unparseable entry lines are skipped with a warning.
    pub fn parse(title: &str, text: &str, generation: u64) -> Option<Thread> {
        let mut lines = text.lines();
        let creator = lines.next().filter(|c| !c.is_empty())?;
        let mut thread = Thread::new(creator, generation);
        for line in lines.filter(|l| !l.is_empty()) {
            match parse_entry(line) {
                Some(entry) => thread.entries.push(entry),
                None => log::warn!("thread {title}: skipping malformed line {line:?}"),
            }
        }
        Some(thread)
    }

    /// The lines after the creator line, exactly as stored.
    pub fn render_entries(&self) -> Vec<String> {
        let mut number = 0u64;
        let mut out = Vec::with_capacity(self.entries.len());
        for entry in &self.entries {
            out.push(match entry {
                Entry::Post { user, text } => {
                    number += 1;
                    format!("{number} {user}: {text}")
                }
                Entry::Upload { user, file } => format!("{user} uploaded {file}"),
            });
        }
        out
    }

    /// The full file contents: creator line then entries, newline-terminated.
    pub fn render_file(&self) -> String {
        let mut out = format!("{}\n", self.creator);
        for line in self.render_entries() {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    /// Index in `entries` of post number `n` (1-based), if there is one.
    pub fn post_index(&self, n: u64) -> Option<usize> {
        let rank = usize::try_from(n.checked_sub(1)?).ok()?;
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, Entry::Post { .. }))
            .nth(rank)
            .map(|(i, _)| i)
    }

    /// Number of posts (the number the most recent post carries).
    pub fn post_count(&self) -> u64 {
        let posts = self
            .entries
            .iter()
            .filter(|e| matches!(e, Entry::Post { .. }));
        posts.count() as u64
    }

    /// Whether an upload named `file` is recorded in this thread.
    pub fn has_file(&self, file: &str) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e, Entry::Upload { file: f, .. } if f == file))
    }
}

/// Parses one entry line; usernames and file names never contain spaces,
/// and an upload line's second word is never followed by `:`.
fn parse_entry(line: &str) -> Option<Entry> {
    let (first, rest) = line.split_once(' ')?;
    if let Some((user, file)) = rest.strip_prefix("uploaded ").map(|f| (first, f)) {
        if !file.is_empty() && !file.contains(' ') {
            return Some(Entry::Upload {
                user: user.to_string(),
                file: file.to_string(),
            });
        }
    }
    first.parse::<u64>().ok()?;
    let (user, text) = match rest.split_once(": ") {
        Some(pair) => pair,
        None => (rest.strip_suffix(':')?, ""),
    };
    if user.is_empty() || user.contains(' ') {
        return None;
    }
    Some(Entry::Post {
        user: user.to_string(),
        text: text.to_string(),
    })
}

/// Makes post text fit on one line: CR and LF become spaces.
pub(super) fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// The changes `post`, `delete` and `edit` make to a thread, whichever store keeps it.
impl Thread {
    /// Appends a post; its number.
    pub(super) fn add_post(&mut self, user: &str, text: &str) -> u64 {
        self.entries.push(Entry::Post {
            user: user.to_string(),
            text: text.to_string(),
        });
        self.post_count()
    }

    /// Deletes post `n` if `user` wrote it.
    pub(super) fn delete_post(&mut self, n: u64, user: &str) -> Result<(), ForumError> {
        let index = self.authored_post(n, user)?;
        self.entries.remove(index);
        Ok(())
    }

    /// Replaces the text of post `n` if `user` wrote it.
    pub(super) fn edit_post(
        &mut self,
        n: u64,
        user: &str,
        new_text: &str,
    ) -> Result<(), ForumError> {
        let index = self.authored_post(n, user)?;
        if let Entry::Post { text, .. } = &mut self.entries[index] {
            *text = new_text.to_string();
        }
        Ok(())
    }

    /// Index of post `n` if `user` wrote it.
    pub(super) fn authored_post(&self, n: u64, user: &str) -> Result<usize, ForumError> {
        let index = self.post_index(n).ok_or(ForumError::NoMessage(n))?;
        match &self.entries[index] {
            Entry::Post { user: author, .. } if author == user => Ok(index),
            _ => Err(ForumError::NotAuthor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let text = "Yoda\n1 Yoda: Networks is awesome\nYoda uploaded test.exe\n\
                    2 Obi-wan: a: b\n3 Hans: \n";
        let thread = Thread::parse("3331", text, 0).unwrap();
        assert_eq!(thread.creator, "Yoda");
        assert_eq!(thread.entries.len(), 4);
        assert_eq!(thread.render_file(), text);
        assert_eq!(thread.post_index(2), Some(2));
        assert_eq!(thread.post_index(4), None);
        assert_eq!(thread.post_index(0), None);
        assert!(thread.has_file("test.exe"));
    }

    #[test]
    fn numbers_renormalised_and_junk_skipped() {
        let thread = Thread::parse("t", "a\n7 a: x\njunk\n9 b: y\n", 0).unwrap();
        assert_eq!(thread.render_entries(), vec!["1 a: x", "2 b: y"]);
        assert!(Thread::parse("t", "", 0).is_none());
    }

    #[test]
    fn one_line_replaces_breaks() {
        assert_eq!(one_line("a\r\nb\nc"), "a  b c");
    }
}
