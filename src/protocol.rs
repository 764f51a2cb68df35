//! The wire protocol: the only module that knows JSON.
//!
//! A connection carries newline-delimited JSON objects, one per line, UTF-8, each at most
//! [`MAX_LINE`] bytes including the newline. Another client can be written from this page.
//!
//! **Client to server** — a [`Request`]: `{"id": 7, "cmd": "message", "to": "hans", "text": "hi"}`.
//! `id` is chosen by the client (increasing); `cmd` names a [`Command`] and the other fields
//! are that command's arguments (snake_case names, as in the enum below).
//!
//! **Server to client** — either a [`Response`] to one request, naming its id:
//! `{"re": 7, "ok": true, "lines": ["..."], "then": "continue"}`, or an [`Event`] pushed at any
//! moment: `{"ev": "text", "text": "hans: hi"}`. `lines` are for the user, one per line, in
//! order. `then` tells the client what happens next (login prompts, exit, a transfer).
//! A response whose lines would not fit in one [`MAX_LINE`] line sends all but its last
//! line first, in order, as `text` events, then the response with the last line.
//!
//! **Binary payload frames** — a file's bytes travel as a header line `{"bin": N}` followed by
//! exactly N raw bytes (N at most [`MAX_CHUNK`]); a frame with N = 0 ends the stream. Uploads:
//! the client sends `upd`, waits for a response with `then: "send_data"`, sends its frames,
//! and receives a second response with the same id. Downloads: the response to `dwn` has
//! `then: "receive_data"` and the server follows it with the frames.
//!
//! **Login** — the first requests are `hello` (the client's UDP and private-chat ports), then
//! `username`, then `password` or `new_password` as the previous response's `then` asks.
//! The response with `then: "logged_in"` carries the welcome; the offline messages follow
//! it as `text` events, oldest first, each with `sent`, its send time in Unix seconds
//! (`{"ev": "text", "text": "hans: hi", "sent": 1764700000}`). The server's lines are at
//! most [`MAX_SERVER_LINE`]. Reading and writing lines and frames: `protocol_frame.rs`.
//! Every other command before login is refused. A line over the limit or that is not a
//! request gets an `error` event and the connection is closed.

use serde::{Deserialize, Serialize};

/// Longest line accepted, newline included.
pub const MAX_LINE: usize = 64 * 1024;
/// Longest line the server sends, newline included: a request's text (at most
/// [`MAX_LINE`]) never encodes longer than it arrived, and the server adds at most a
/// name, a title, numbers and a timestamp around it, well under 4 KiB. Longer replies
/// go out as several lines. Clients read up to this.
pub const MAX_SERVER_LINE: usize = MAX_LINE + 4 * 1024;
/// Largest binary frame.
pub const MAX_CHUNK: usize = 64 * 1024;

/// One request from a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    #[serde(flatten)]
    pub cmd: Command,
}

/// How a user chose to leave: the goodbye line differs (`logout`, `OUT`, `XIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Farewell {
    Logout,
    Out,
    Xit,
}

/// Every command a client can send. Field names are the JSON argument names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    // Login phase.
    Hello {
        udp_port: u16,
        p2p_port: u16,
    },
    Username {
        name: String,
    },
    Password {
        password: String,
    },
    NewPassword {
        password: String,
    },
    // Messaging.
    Message {
        to: String,
        text: String,
    },
    Broadcast {
        text: String,
    },
    WhoElse,
    WhoElseSince {
        secs: u64,
    },
    Block {
        user: String,
    },
    Unblock {
        user: String,
    },
    Logout {
        how: Farewell,
    },
    // TOOM.
    Bcm {
        text: String,
    },
    Atu,
    Srb {
        users: Vec<String>,
    },
    Srm {
        room: u64,
        text: String,
    },
    Rdm {
        kind: String,
        since: String,
    },
    // Forum.
    Crt {
        title: String,
    },
    Msg {
        title: String,
        text: String,
    },
    Dlt {
        title: String,
        n: u64,
    },
    Edt {
        title: String,
        n: u64,
        text: String,
    },
    Lst,
    Rdt {
        title: String,
    },
    Upd {
        title: String,
        file: String,
        size: u64,
    },
    Dwn {
        title: String,
        file: String,
    },
    Rmv {
        title: String,
    },
    Sht {
        password: String,
    },
    // Peer to peer.
    StartPrivate {
        user: String,
    },
    PrivateAnswer {
        from: String,
        accept: bool,
        /// Over TLS: the fingerprint of the certificate this client's private-chat
        /// listener presents, which the server passes to `from` to pin (BEHAVIOUR §8).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<String>,
    },
    /// `startprivate USER` while a session with USER is open: the server's refusals
    /// (self, unknown, blocked, offline) still come first, and USER is not asked.
    PrivateCheck {
        user: String,
    },
    /// `stopprivate USER` before USER answered: the request is withdrawn.
    PrivateWithdraw {
        user: String,
    },
    /// A private message was sent peer to peer: counts as activity for the idle timeout.
    Activity,
    Udp {
        user: String,
        file: String,
    },
}

/// What the client does after printing a response's lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "then", rename_all = "snake_case")]
pub enum Then {
    /// Carry on reading commands.
    #[default]
    Continue,
    /// Prompt `Username: ` (again).
    AskUsername,
    /// Prompt `Password: ` (again).
    AskPassword,
    /// Prompt `This is a new user. Enter a password: `.
    AskNewPassword,
    /// Logged in: read commands.
    LoggedIn,
    /// Close the connection and exit with this code.
    Exit { code: i32 },
    /// Send the upload's binary frames now.
    SendData,
    /// Binary frames of `size` bytes follow this response.
    ReceiveData { size: u64 },
    /// Send the file to the audience over UDP.
    UdpSend {
        addr: String,
        token: String,
        /// Over TLS: the transfer's 256-bit sealing key, hex (BEHAVIOUR §8).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// The private-chat consent was answered yes: expect the peer to connect with this token.
    AwaitPeer { token: String },
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub re: u64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
    #[serde(flatten)]
    pub then: Then,
}

/// Something the server pushes without being asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    /// A line for the user: a message, a presence notice, a room message. `sent`: when an
    /// offline message was sent (Unix seconds), which a terminal shows; absent otherwise.
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sent: Option<i64>,
    },
    /// A broadcast line (`hans: TEXT`): printed as a text line, shown as a broadcast
    /// on a terminal.
    Broadcast { text: String },
    /// The lockout that the next response announces lasts `secs` seconds.
    Lockout { secs: u64 },
    /// Print this line, then the session is over: exit with `code`.
    Bye { text: String, code: i32 },
    /// A protocol error; the server closes the connection after it.
    Error { text: String },
    /// `from` asks for private messaging; the user's next line answers.
    PrivateRequest { from: String },
    /// `user` accepted: connect to `addr` and present `token`.
    PrivateAccepted {
        user: String,
        addr: String,
        token: String,
        /// Over TLS: the certificate `user`'s listener presents; connect with TLS and pin it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<String>,
    },
    /// `user` declined.
    PrivateDeclined { user: String },
    /// `from` logged out or stopped asking before the answer: the question is withdrawn.
    PrivateWithdrawn { from: String },
    /// `from` is about to upload `file` over UDP with `token`.
    UdpIncoming {
        from: String,
        file: String,
        token: String,
        /// Over TLS: the transfer's sealing key, hex; datagrams that fail it are dropped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
}

impl Event {
    /// A text line without a send time (a live one).
    pub fn text(text: impl Into<String>) -> Event {
        let (text, sent) = (text.into(), None);
        Event::Text { text, sent }
    }
}

/// Any line the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ServerMsg {
    Response(Response),
    Event(Event),
    Bin { bin: usize },
}

/// A client line that is a binary frame header rather than a request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BinHeader {
    pub bin: usize,
}

/// A line the server reads: a request or a frame header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClientMsg {
    Request(Request),
    Bin(BinHeader),
}

#[path = "protocol_frame.rs"]
mod frame;
pub use frame::*;

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
