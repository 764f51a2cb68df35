//! Every sentence a user reads, in one place, so wording never hides in logic and tests
//! can name the same constants. The server composes most lines; the client adds its own
//! local errors (usage, missing files) and prompts.

pub const WELCOME: &str = "Welcome to chinwag!";
pub const PROMPT_USERNAME: &str = "Username: ";
pub const PROMPT_PASSWORD: &str = "Password: ";
pub const PROMPT_NEW_PASSWORD: &str = "This is a new user. Enter a password: ";
pub const INVALID_PASSWORD_RETRY: &str = "Invalid Password. Please try again";
pub const INVALID_PASSWORD_BLOCKED: &str =
    "Invalid Password. Your account has been blocked. Please try again later";
pub const ACCOUNT_BLOCKED: &str =
    "Your account is blocked due to multiple login failures. Please try again later";
/// On a terminal, a lockout line with its length.
pub fn lockout_lasts(line: &str, secs: u64) -> String {
    format!("{line} (the lockout lasts {secs} s)")
}
pub const INVALID_USERNAME_RETRY: &str = "Invalid username. Please try again";
pub const NAME_RULE: &str =
    "use 1 to 32 characters from A-Z a-z 0-9 and ~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/ (no spaces)";
pub const SERVER_FULL: &str = "Error. Server is full, try again later";
pub const SHUTTING_DOWN: &str = "Goodbye. Server shutting down";
pub const INACTIVITY: &str = "You have been logged out due to inactivity";
/// Sent this long before an idle logout, when the timeout is at least twice as long.
pub const IDLE_WARNING_BEFORE: std::time::Duration = std::time::Duration::from_secs(30);
pub const IDLE_WARNING: &str = "You will be logged out in 30 s for inactivity";
pub const INVALID_COMMAND: &str = "Error. Invalid command";
/// On a terminal: an unknown command, and the one probably meant.
pub fn did_you_mean(typed: &str, meant: &str) -> String {
    format!("Error. Invalid command {typed}. Did you mean {meant}?")
}
pub const NOT_LOGGED_IN: &str = "Error. Log in first";
pub const INVALID_USER: &str = "Error. Invalid user";
pub const CANNOT_MESSAGE_SELF: &str = "Error. Cannot message self";
pub const CANNOT_BLOCK_SELF: &str = "Error. Cannot block self";
pub const CANNOT_UNBLOCK_SELF: &str = "Error. Cannot unblock self";
pub const RECIPIENT_BLOCKED_YOU: &str =
    "Your message could not be delivered as the recipient has blocked you";
/// A message log (or the journal) could not be written or fsynced.
pub const SAVE_FAILED: &str = "Error. The server could not save that, try again";
/// A login the store (Redis, in a cluster) could not answer (BEHAVIOUR §7).
pub const SERVER_UNAVAILABLE: &str = "Error. Server unavailable, try again later";
/// Reading a message log failed.
pub const READ_FAILED: &str = "Error. The server could not read the history, try again";
/// A sign-up could not be written to the credentials file (nothing of it was kept).
pub const SIGNUP_FAILED: &str = "Error. The account could not be saved, try again later";
/// A connection that did not log in within the login timeout is closed.
pub const LOGIN_TIMED_OUT: &str = "Error. No login within the time allowed, disconnecting";
/// A pre-login connection replaced by a newer one from the same address.
pub const TOO_MANY_FROM_ADDRESS: &str =
    "Error. Too many connections from your address are logging in, disconnecting";
pub const SOME_RECIPIENTS: &str = "Your message could not be delivered to some recipients";
pub const NO_OTHER_USERS: &str = "No other users online";
pub const NO_OTHER_ACTIVE: &str = "no other active user";
pub const NO_NEW_MESSAGE: &str = "no new message";
pub const ROOM_MISSING: &str = "The separate room does not exist";
pub const NOT_IN_ROOM: &str = "You are not in this separate room chat";
pub const ROOM_SELF_ONLY: &str = "Error. You cannot build a separate room with yourself only";
pub const BAD_TIMESTAMP: &str = "Error. Invalid timestamp, use e.g. 1 Jun 2022 16:01:20";
pub const BAD_MESSAGE_TYPE: &str = "Error. Message type must be b or s";
pub const ROOM_ID_NUMBER: &str = "Error. Room ID must be a number";
pub const INCORRECT_PASSWORD: &str = "Incorrect password";
pub const SHUTDOWN_DISABLED: &str = "Error. Shutdown is disabled on this server";
pub const XIT_GOODBYE: &str = "Goodbye";
pub const PROTOCOL_ERROR: &str = "Error. The client sent a malformed request";
pub const TOO_MANY_COMMANDS: &str = "Error. Too many commands, slow down";
pub const TOO_MANY_LOGINS: &str =
    "Error. Too many login attempts from your address, try again later";

/// A --max-clients past the `limit` this machine can hold (`why`: its limits).
pub fn too_many_clients(given: usize, limit: usize, why: &str) -> String {
    format!("Invalid --max-clients {given}: this machine can hold at most {limit} clients ({why})")
}
/// Printed at start-up: the client cap in force and the machine's limit.
pub fn serving_at_most(max_clients: usize, limit: usize, why: &str) -> String {
    format!("Serving at most {max_clients} clients; this machine can hold {limit} ({why})")
}
pub fn invalid_name(what: &str) -> String {
    format!("Invalid {what}: {NAME_RULE}")
}
/// What a cluster node prints at start-up.
pub fn joined_cluster(node: &str) -> String {
    format!("node {node} joined the cluster")
}

/// What `chinwag-server export` prints when it is done.
pub fn exported(
    accounts: usize,
    broadcasts: usize,
    rooms: usize,
    threads: usize,
    dir: &std::path::Path,
) -> String {
    format!(
        "Exported {accounts} accounts, {broadcasts} broadcasts, {rooms} rooms and {threads} threads to {}",
        dir.display()
    )
}

/// A cluster node's start-up refusal (BEHAVIOUR §7): a wrong URL, an unreachable Redis,
/// data of an unknown format. One line on stderr.
pub fn cannot_join_cluster(url: &str, why: &str) -> String {
    format!("Error. Cannot join the cluster at {url}: {why}")
}

/// `chinwag-server export` could not finish.
pub fn export_failed(why: &str) -> String {
    format!("Error. Export failed: {why}")
}

/// A node's console when `SHT` on another node stops the cluster.
pub fn cluster_shutting_down(from: &str) -> String {
    format!("Server shutting down (SHT on node {from})")
}

/// A node's console when the users of a dead node are shown logged out.
pub fn logged_out_node_gone(user: &str, noticed_by: &str) -> String {
    format!("{} (node gone, noticed by {noticed_by})", logged_out(user))
}

pub fn already_logged_in(user: &str) -> String {
    format!("{user} is already logged in")
}
pub fn logged_in(user: &str) -> String {
    format!("{user} logged in")
}
pub fn logged_out(user: &str) -> String {
    format!("{user} logged out")
}
pub fn chat(from: &str, text: &str) -> String {
    format!("{from}: {text}")
}
pub fn stored_offline(user: &str) -> String {
    format!("Message to {user} stored for offline delivery")
}
pub fn blocked(user: &str) -> String {
    format!("{user} is blocked")
}
pub fn unblocked(user: &str) -> String {
    format!("{user} is unblocked")
}
pub fn already_blocked(user: &str) -> String {
    format!("Error. {user} is already blocked")
}
pub fn was_not_blocked(user: &str) -> String {
    format!("Error. {user} was not blocked")
}
pub fn none_since(secs: u64) -> String {
    format!("No other users online in the last {secs} seconds")
}
pub fn goodbye(user: &str) -> String {
    format!("Goodbye, {user}!")
}
pub fn bye(user: &str) -> String {
    format!("Bye, {user}!")
}
pub fn usage(text: &str) -> String {
    format!("Error. Usage: {text}")
}
pub fn incorrect_syntax(cmd: &str) -> String {
    format!("Incorrect syntax for {cmd}")
}
pub fn is_offline(user: &str) -> String {
    format!("Error. {user} is offline")
}
pub fn does_not_exist(name: &str) -> String {
    format!("Error. {name} does not exist")
}
pub fn invalid_file_name(name: &str) -> String {
    format!("Error. Invalid file name {name}: one word, no path separators, not starting with '.'")
}
pub fn invalid_title(name: &str) -> String {
    format!(
        "Error. Invalid thread title {name}: one word, no path separators, not starting with '.'"
    )
}
pub fn too_large(name: &str, limit: u64) -> String {
    format!("Error. {name} is larger than the server accepts ({limit} bytes)")
}

/// `--tls-required` and a plain connection.
pub const TLS_REQUIRED: &str = "Error. This server requires TLS: connect with chinwag --tls";

/// The server's start-up line under `--tls`.
pub fn tls_fingerprint(fingerprint: &str) -> String {
    format!("TLS certificate fingerprint {fingerprint}")
}

/// The certificate or key could not be loaded or made.
pub fn tls_setup_failed(why: &str) -> String {
    format!("Error. Cannot set up TLS: {why}")
}

/// A client option without its value.
pub fn option_needs_value(name: &str) -> String {
    format!("Error. {name} needs a value")
}

/// `--fingerprint` that is not `SHA256:` and 64 hex digits.
pub fn bad_fingerprint(given: &str) -> String {
    format!("Error. Invalid fingerprint {given}: expected SHA256: and 64 hex digits")
}

/// Neither XDG_CONFIG_HOME nor HOME is set, so known_servers has no place.
pub const NO_KNOWN_SERVERS: &str =
    "Error. Cannot find known_servers: set XDG_CONFIG_HOME or HOME, or pass --fingerprint";

/// The TLS handshake with the server failed for a reason other than trust.
pub fn tls_handshake_failed(server: &str, why: &dyn std::fmt::Display) -> String {
    format!("Error. TLS with {server} failed: {why}")
}

/// On a terminal, a server not in known_servers yet.
pub fn tls_first_use(fingerprint: &str) -> String {
    format!("The server's certificate is new to this client: {fingerprint}")
}

/// The first-use question (no newline: the answer follows on the line).
pub const TRUST_THIS_SERVER: &str = "Trust this server? [y/N] ";

/// An upload from a peer has started (on a terminal, above its progress bar).
pub fn receiving(file: &str, from: &str) -> String {
    format!("Receiving {file} from {from}")
}
/// An upload from a peer is saved: as `FROM_FILE`, or under a free name beside it.
pub fn received(file: &str, from: &str, saved_as: &str) -> String {
    match saved_as == format!("{from}_{file}") || saved_as.is_empty() {
        true => format!("Received {file} from {from}"),
        false => format!("Received {file} from {from}, saved as {saved_as}"),
    }
}
/// The audience already receives as many uploads as it takes at once.
pub fn receiving_too_many(user: &str) -> String {
    format!("Error. {user} is receiving too many files, try later")
}

/// The private-messaging consent question (a prompt: no newline in scripted mode).
pub fn private_question(from: &str) -> String {
    format!("{from} would like to private message, enter y or n: ")
}
/// The asker logged out or stopped asking before the answer.
pub fn private_withdrawn(from: &str) -> String {
    format!("{from} withdrew the private messaging request")
}
/// `startprivate USER` while a session with USER is open.
pub fn already_private(user: &str) -> String {
    format!("Error. Already in private messaging with {user}")
}

/// Scripted mode, or the user said no, to a server not in known_servers.
pub fn tls_unknown_server(fingerprint: &str) -> String {
    format!("Error. Unknown server certificate {fingerprint}: pass --fingerprint or --trust-new")
}

/// known_servers holds another certificate for this server.
pub fn tls_changed_server(was: &str, got: &str, path: &std::path::Path, line: usize) -> String {
    format!(
        "Error. The server's certificate changed: known_servers has {was}, the server sent {got}. If the change is expected, remove line {line} of {}",
        path.display()
    )
}

/// `--fingerprint` named another certificate.
pub fn tls_fingerprint_mismatch(want: &str, got: &str) -> String {
    format!("Error. The server's certificate is {got}, not {want}")
}

// --- Server replies to commands, and what the server prints about them (BEHAVIOUR §3, §5).

mod forum;
pub use forum::*;

pub const SERVER_SHUTTING_DOWN: &str = "Server shutting down";
pub const ALREADY_LOGGED_IN: &str = "Error. Already logged in";
pub const PRIVATE_WITH_SELF: &str = "Error. Cannot start private messaging with self";
pub const UPLOAD_TO_SELF: &str = "Error. Cannot upload to self";
/// A forum operation failed on the disk (or the store).
pub const COULD_NOT_COMPLETE: &str = "Error. The server could not complete that, try again";

/// The server printing a command it runs: `yoda issued CRT command`.
pub fn issued(user: &str, command: &str) -> String {
    format!("{user} issued {command} command")
}
/// A session ended by a protocol violation.
pub fn disconnecting(why: &str) -> String {
    format!("Error. {why}, disconnecting")
}
/// One `ATU` row.
pub fn active_user(user: &str, ip: std::net::IpAddr, udp_port: u16, since: &str) -> String {
    format!("{user}, {ip}, {udp_port}, active since {since}.")
}
pub fn bcm_logged(user: &str, n: u64, text: &str, at: &str) -> String {
    format!("{user} broadcasted BCM #{n} \"{text}\" at {at}.")
}
pub fn bcm_sent(n: u64, at: &str) -> String {
    format!("Broadcast message, #{n} broadcast at {at}.")
}
pub fn room_exists(id: u64) -> String {
    format!("a separate room (ID: {id}) already created for these users")
}
pub fn added_to_room(id: u64, by: &str, members: &str) -> String {
    format!("You have been added to separate room {id} by {by} (users: {members})")
}
pub fn room_created(id: u64, members: &str) -> String {
    format!("Separate chat room has been created, room ID: {id}, users in this room: {members}")
}
/// A room message as its members see it.
pub fn room_line(room: u64, from: &str, text: &str) -> String {
    format!("room-{room}: {from}: {text}")
}
pub fn srm_logged(user: &str, room: u64, n: u64, at: &str, text: &str) -> String {
    format!("{user} issued a message in separate room {room}: #{n}; {at}; {user}; {text}")
}
pub fn srm_sent(n: u64, at: &str) -> String {
    format!("Separate room message, #{n} issued at {at}.")
}
/// The first line of an `RDM` answer.
pub fn history_since(broadcasts: bool, at: &str) -> String {
    let what = match broadcasts {
        true => "Broadcast messages",
        false => "Messages in separate rooms",
    };
    format!("{what} since {at}:")
}
pub fn room_heading(id: u64) -> String {
    format!("room-{id}:")
}
/// One `RDM` entry: `#1; yoda: TEXT at 1 Jun 2022 16:05:00.`
pub fn history_line(n: u64, user: &str, text: &str, at: &str) -> String {
    format!("#{n}; {user}: {text} at {at}.")
}
pub fn has_blocked_you(user: &str) -> String {
    format!("Error. {user} has blocked you")
}
pub fn no_longer_available(user: &str) -> String {
    format!("Error. {user} is no longer available for private messaging")
}
pub fn no_private_request(user: &str) -> String {
    format!("Error. No private messaging request from {user}")
}
pub fn cannot_receive_files(user: &str) -> String {
    format!("Error. {user} cannot receive files")
}
pub fn udp_upload_logged(from: &str, file: &str, to: &str) -> String {
    format!("{from} is uploading {file} to {to} over UDP")
}
/// Why a session is ended for a protocol violation (after `Error. `).
pub const LINE_TOO_LONG: &str = "line too long";
pub const TOO_MANY_MALFORMED: &str = "too many malformed requests";
pub fn timed_out(user: &str) -> String {
    format!("{user} timed out")
}
pub fn locked_out(user: &str) -> String {
    format!("{user} is locked out after failed logins")
}
pub fn signed_up(user: &str) -> String {
    format!("{user} signed up")
}
pub fn logged_in_from(user: &str, addr: std::net::SocketAddr) -> String {
    format!("{user} logged in from {addr}")
}
pub fn login_throttled(user: &str, ip: std::net::IpAddr) -> String {
    format!("login to {user} from {ip} refused: too many failures")
}
pub fn no_private_session(user: &str) -> String {
    format!("Error. No private messaging session with {user}")
}
pub fn private_stopped(user: &str) -> String {
    format!("Private messaging with {user} stopped")
}
