//! The forum's replies and what the server prints about threads and files
//! (BEHAVIOUR §3.3), apart from the rest of [`crate::text`] only for its length.

pub const MESSAGE_DELETED: &str = "The message has been deleted";
pub const MESSAGE_EDITED: &str = "The message has been edited";
pub const NOT_AUTHOR_DELETE: &str = "The message belongs to another user and cannot be deleted";
pub const NOT_AUTHOR_EDIT: &str = "The message belongs to another user and cannot be edited";
pub const THREAD_LIST: &str = "The list of active threads:";
pub const NO_THREADS: &str = "No threads to list";
pub const THREAD_REMOVED: &str = "The thread has been removed";
pub const NOT_CREATOR: &str = "The thread was created by another user and cannot be removed";
pub const FILE_EXISTS: &str = "Error. That file already exists in the thread";
pub const FILE_TOO_LARGE: &str = "Error. The file is larger than the server accepts";

pub fn no_thread(title: &str) -> String {
    format!("Thread {title} does not exist")
}
pub fn thread_exists(title: &str) -> String {
    format!("Thread {title} exists")
}
pub fn no_message(n: u64, title: &str) -> String {
    format!("Message {n} does not exist in thread {title}")
}
pub fn no_file(title: &str) -> String {
    format!("File does not exist in Thread {title}")
}
pub fn file_exists_in(file: &str, title: &str) -> String {
    format!("Error. {file} already exists in thread {title}")
}
pub fn thread_created(title: &str) -> String {
    format!("Thread {title} created")
}
pub fn message_posted(title: &str) -> String {
    format!("Message posted to {title} thread")
}
pub fn thread_read(title: &str) -> String {
    format!("Thread {title} read")
}
pub fn thread_empty(title: &str) -> String {
    format!("Thread {title} is empty")
}
pub fn thread_removed(title: &str) -> String {
    format!("Thread {title} removed")
}
pub fn uploaded(file: &str, title: &str) -> String {
    format!("{file} uploaded to {title} thread")
}
pub fn upload_logged(user: &str, file: &str, title: &str) -> String {
    format!("{user} uploaded file {file} to {title} thread")
}
pub fn download_logged(file: &str, title: &str, user: &str) -> String {
    format!("{file} downloaded from Thread {title} by {user}")
}
