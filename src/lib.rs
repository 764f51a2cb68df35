//! chinwag: a terminal messaging system. One server, one client, every feature at once:
//! direct messages, broadcasts, presence, blocking, offline delivery, idle timeout, rooms
//! with history, forum threads with file attachments, peer-to-peer private chat and
//! peer-to-peer file upload over UDP.
//!
//! # Layout
//!
//! - `protocol` — the only module that knows JSON: requests, responses, events, framing,
//!   binary payload frames, the line-length limit.
//! - `text` — every user-visible sentence.
//! - `timefmt` — the `1 Jun 2022 16:01:20` form, shown and parsed.
//! - `names` — which thread titles and file names are safe as path components.
//! - `server` — accept loop (`mod.rs`), per-connection `session` and `outbox`, the
//!   shared-state facade `state` with one file per feature (`login`, `messaging`, `toom`,
//!   `board`, `p2p`, with `offline` delivering a login's backlog, `prelogin` bounding
//!   connections that have not logged in, `since` indexing logouts for `whoelsesince`),
//!   durable stores (`accounts`, `journal`, `history`, `rooms`, `forum`, all through
//!   `files`: whole-line appends, no symbolic links) and the `timer`.
//! - `client` — connect and log in, parse what the user types, print what arrives,
//!   private chat and UDP transfers.
//! - `transfer` — the reliable UDP file transport between clients.
//! - `tls` — TLS identities, fingerprints, how a client trusts a server, and the AEAD that
//!   seals UDP uploads (BEHAVIOUR §8; not wired into connections yet).
//! - `cluster` — the Redis store and pub/sub bus that let several servers act as one
//!   (BEHAVIOUR §7; not wired into the server yet: it plugs into the store/delivery seam).
//!
//! The load and latency bench, `chinwag-bench`, is its own crate in the workspace
//! (`chinwag-bench/`), a user of `protocol` and `transfer`.
//!
//! # Threads
//!
//! Server: 1 accept thread (the caller of `server::run`), 1 timer thread, 1 syncer thread
//! (fsyncs the message logs, then sends the senders' confirmations), 1 flusher thread
//! shared by every connection (`server::outbox`: it finishes, on epoll readiness, what a
//! socket would not take at once, and writes what was queued outside a session), and 1
//! session thread per connection, which reads, handles and writes through: the lines its
//! requests queued go out with one non-blocking send per client once its input is
//! drained. No thread waits on a socket's write. A session thread ends when its socket
//! closes; the timer ends when `run` returns; the flusher lives as long as the process.
//!
//! Client: the main (input) thread, 1 reader thread for the server
//! connection, 1 listener thread for private chat plus 1 thread per private session (the
//! side that connects dials from it, the side that accepts reads in it), 1 UDP receiver
//! thread plus 1 thread printing what it reports, and 1 thread per outgoing UDP upload.
//! They end at logout (`PrivateChat::shutdown`, the receiver's drop) or with the process.
//!
//! # Invariants
//!
//! - No state lock is held across socket I/O, an fsync or a sleep; sending to a user
//!   only queues into their outbox. Lock order is documented in `server::state`. One
//!   writer at a time per connection takes lines off its outbox's front, so lines leave
//!   in queue order whoever writes them.
//! - An outbox is bounded in bytes (`outbox::MAX_QUEUED`, 4 MiB): past it that client
//!   is disconnected and its queue dropped; nobody else waits for it.
//! - Everything acknowledged to a user (sign-ups, blocks, offline messages, broadcast and
//!   room history, rooms, forum posts and uploads) is fsynced first; files are appended
//!   whole-line or replaced by rename, so a crash never leaves a torn line that is read,
//!   and a failed append is cut back to the last whole line. Nothing under DATA_DIR is
//!   opened through a symbolic link.
//!   Broadcast and room messages are delivered once written, before their fsync (a
//!   `kill -9` cannot lose a written line; the sender hears only after the fsync).
//! - The server never holds more clients than `--max-clients`, which defaults to and may
//!   not exceed what the machine can hold (`server::capacity`: one thread and one socket
//!   per client, under vm.max_map_count and RLIMIT_NOFILE, with margin), so it stays
//!   below the process's thread ceiling.
#![forbid(unsafe_code)]

pub mod client;
pub mod cluster;
pub mod names;
pub mod protocol;
pub mod server;
pub mod text;
pub mod timefmt;
pub mod tls;
pub mod transfer;
