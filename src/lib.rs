//! chinwag: a terminal messaging system. One server, one client, every feature at once:
//! direct messages, broadcasts, presence, blocking, offline delivery, idle timeout, rooms
//! with history, forum threads with file attachments, peer-to-peer private chat and
//! peer-to-peer file upload over UDP.
//!
//! # Layout
//!
//! - `protocol` — the client-server wire: requests, responses, events, framing, binary
//!   payload frames, the line-length limit. JSON is also the format of three other lines,
//!   each with its own types: the journal's records (`server::store::journal`), the
//!   private-chat lines between peers (`client::private`) and the cluster's bus messages
//!   (`server::node`).
//! - `text` — every user-visible sentence.
//! - `timefmt` — the `1 Jun 2022 16:01:20` form, shown and parsed.
//! - `names` — which thread titles and file names are safe as path components.
//! - `server` — the accept loop (`mod.rs`); per connection a `session` (read loop,
//!   `phase`: the login lifecycle with one transition function, `replies` and their
//!   order, `streaming` of `UPD`/`DWN`) and an `outbox` (queue bounded in bytes,
//!   write-through, the shared flusher, the presence `Feed`); the `cmd` layer, one file per command family
//!   (`messaging`, `presence`, `broadcast`, `rooms`, `history`, `forum`, `p2p`, `admin`);
//!   `login` (login, sign-up, logout) and `offline` (a login's backlog); the state facade
//!   `state` and the domain types behind its `core` lock (`roster`: connections,
//!   logged-in users and their stints, with `prelogin` bounding connections that have not
//!   logged in and `since` indexing logouts; `blocks`: the one visibility rule); the two
//!   backend seams (`store`, `delivery`) and the cluster `node`; under `store`, the
//!   store traits, `FileStore` and the durable files behind it (`store::accounts`,
//!   `journal`, `history`, `rooms`, `forum`, all through `store::files`: whole-line
//!   appends, no symbolic links); the `syncer` (fsyncs, then
//!   confirms), `throttle` (rate limits), `capacity` (the client cap), `config` and the
//!   `timer`; `testing` (test builds only) gives the state-boundary tests a state on fresh
//!   files and users on its roster without sockets.
//! - `client` — connect and log in, parse what the user types, print what arrives,
//!   private chat and UDP transfers.
//! - `transfer` — the reliable UDP file transport between clients.
//! - `tls` — TLS identities, fingerprints, how a client trusts a server, a blocking TLS
//!   stream, and the AEAD that seals UDP uploads (BEHAVIOUR §8). The server takes TLS on
//!   its one port (`server::secure` tells TLS from plain by the first byte; `refuse`
//!   refuses a full server's TLS clients in their own protocol); the client dials it
//!   (`client::secure`), private chat runs over it (`client::peer`), and UDP uploads are
//!   sealed (`transfer::sealed`) with a key the server hands both peers.
//! - `cluster` — the Redis store and pub/sub bus that let several servers act as one
//!   (BEHAVIOUR §7), and (`cluster::backend`) the seam's Redis implementations; the
//!   server side of a node (joining, heartbeat, bus messages) is `server::node`, the
//!   cluster's forum `server::store::forum::RedisForum`, and `server::anywhere` answers the
//!   commands that name or list users wherever they are logged in (`visible_to` asks
//!   Redis which of them blocked the asker, so a block made on another node holds at
//!   once). A direct message names the node its recipient is on; if they left it as the
//!   line crossed, that node queues it offline and `BusMsg::Drain` asks the recipient's
//!   node now to deliver their queue (`server::offline`).
//!
//! # The backend seam
//!
//! Commands reach what lasts only through `server::store::Store` (six traits:
//! `AccountStore`, `BlockStore`, `OfflineStore`, `LogStore`, `RoomStore`, `ForumStore`),
//! and reach other users only through `server::delivery`: one fan-out function on this
//! node's roster (`Core::fan_out`, which applies the block rule and encodes once), a
//! `Broker` that carries each line to the other nodes, and a `PresenceManager` that
//! claims logins. This is Centrifugo's engine split into a broker and a presence manager.
//! A single server runs `FileStore` (DATA_DIR's files, BEHAVIOUR §4) with `LocalBroker`
//! and `LocalPresence`, which do nothing: there is no other node. A cluster node
//! (BEHAVIOUR §7) passes `State::with_backends` a Redis store (`cluster::backend::
//! ClusterStore` on `cluster::RedisStore`:
//! Lua scripts keep sign-up, lockout counting and log numbering atomic across nodes), a
//! Redis broker (`cluster::backend::ClusterLink` on `cluster::bus`: one `PUBLISH` per
//! line, whatever the audience; each
//! node's subscriber hands what arrives to its own `Core::fan_out`, so a broadcast costs
//! O(nodes)) and Redis presence (`cluster::presence`: `SET NX` login claims renewed by a
//! heartbeat, so a second login on another node is refused and a dead node's users are
//! released). A store that cannot be reached answers `StoreError`, which a command turns
//! into `Error. The server could not save that, try again` (a login into
//! `Error. Server unavailable, try again later`).
//!
//! The load and latency bench, `chinwag-bench`, is its own crate in the workspace
//! (`chinwag-bench/`), a user of `protocol` and `transfer`.
//!
//! # Threads
//!
//! Server: 1 accept thread (the caller of `server::run`), 1 timer thread, 1 syncer thread
//! (fsyncs the message logs, then sends the senders' confirmations), on a TLS server 1
//! refuser thread (TLS refusals of a full server, ended with `run`), 1 flusher thread
//! shared by every connection (`server::outbox`: it finishes, on epoll readiness, what a
//! socket would not take at once, and writes what was queued outside a session), and 1
//! session thread per connection, which reads, handles and writes through: the lines its
//! requests queued go out with one non-blocking send per client once its input is
//! drained. No thread waits on a socket's write. A session thread ends when its socket
//! closes; the timer ends when `run` returns; the flusher lives as long as the process.
//! A cluster node (`--cluster`, `server::node`) adds 1 heartbeat thread (renews its
//! lease, reaps dead nodes) and 1 bus subscriber thread, both ended when `run` returns,
//! and for a user whose offline queue grew while they were logged in, 1 short
//! `offline-nudge` thread that delivers it and ends (one per user at a time).
//! The binary adds 1 signal thread (SIGINT/SIGTERM shut the server down), joined at exit.
//!
//! Client: the main thread, 1 `stdin` thread (on a terminal, the `line-editor`
//! instead) and 1 `signals` thread, 1 reader thread for the server connection, 1 listener thread for private chat plus 1 thread per private session (the
//! side that connects dials from it, the side that accepts reads in it), 1 UDP receiver
//! thread plus 1 `udp-events` thread printing what it reports, and 1 thread per outgoing
//! UDP upload.
//! They end at logout (`PrivateChat::shutdown`, the receiver's drop) or with the process.
//!
//! # Invariants
//!
//! - The `core` state lock is never held across socket I/O, an fsync or a sleep; sending
//!   to a user only queues into their outbox. The file store's own locks are held across
//!   their one file's write (a log append, whose fsync the syncer does later, so that
//!   numbering and delivery order agree) or write and fsync (the journal, rooms.txt,
//!   credentials.txt): that serialises the writers of that file and nobody else. Lock order is
//!   documented in `server::state` and `server::store`. One
//!   writer at a time per connection takes lines off its outbox's front, so lines leave
//!   in queue order whoever writes them.
//! - An outbox is bounded in bytes (`outbox::MAX_QUEUED`, 4 MiB): past it that client
//!   is disconnected and its queue dropped; nobody else waits for it.
//! - A presence notice is appended once to the roster's feed (O(1) under `core`, whoever
//!   is online); each logged-in client's outbox reads it from its own cursor, and a line
//!   queued for a client first takes in the notices published before it, so each client
//!   reads notices and lines in the order they were made.
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
