//! The client's connection to the server: the main thread sends requests and waits for
//! their responses; one reader thread prints everything that arrives the moment it
//! arrives (events and response lines), receives download frames, and hands each response
//! to the main thread once its lines are printed, so a script sees output in order.

use super::look::{self, Kind};
use super::output::Printer;
use super::private::PrivateChat;
use super::secure::Wire;
use crate::protocol::{self, Command, Event, Request, Response, ServerMsg, Then, MAX_CHUNK};
use crate::text;
use crate::transfer::Receiver as UdpReceiver;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What the reader thread shares with the main thread.
#[derive(Default)]
pub struct Shared {
    /// Users whose private-chat request awaits our answer (the next typed line).
    pub consent: Mutex<VecDeque<String>>,
    /// Where the next download goes.
    pub download: Mutex<Option<PathBuf>>,
    /// Set when we are leaving on purpose, so a closed connection is not an error.
    pub leaving: AtomicBool,
    /// The terminal is in use by the line editor (restore it before exiting).
    pub interactive: AtomicBool,
    /// Users we asked for private messaging who have not answered yet.
    pub asked: Mutex<Vec<String>>,
    /// A lockout's length, told just before the response that announces it.
    pub lockout: Mutex<Option<u64>>,
    /// Requests whose response lines are for the client itself, not printed.
    pub quiet: Mutex<Vec<u64>>,
    /// The line editor's state (online users for Tab), on a terminal.
    pub(crate) editing: Option<Arc<super::editor::Editing>>,
}

/// The main thread's end of the connection.
pub struct Link {
    w: BufWriter<Wire>,
    next_id: u64,
    responses: Receiver<Response>,
    pub shared: Arc<Shared>,
}

/// The reader thread's tools.
pub struct Ctx {
    pub printer: Printer,
    pub chat: PrivateChat,
    pub udp: Arc<UdpReceiver>,
    pub shared: Arc<Shared>,
}

impl Link {
    /// Starts the reader thread on a clone of `stream`.
    pub fn start(stream: Wire, ctx: Ctx) -> io::Result<Link> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = ctx.shared.clone();
        let read_half = stream.try_clone()?;
        std::thread::Builder::new()
            .name("server-reader".into())
            .spawn(move || read_loop(read_half, ctx, tx))?;
        Ok(Link {
            w: BufWriter::new(stream),
            next_id: 1,
            responses: rx,
            shared,
        })
    }

    /// Sends a request; returns its id.
    pub fn send(&mut self, cmd: Command) -> io::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        self.w.write_all(&protocol::encode(&Request { id, cmd }))?;
        self.w.flush()?;
        Ok(id)
    }

    /// Waits for the response to request `id`. `None` if the connection is gone.
    pub fn wait(&self, id: u64) -> Option<Response> {
        loop {
            let r = self.responses.recv().ok()?;
            if r.re == id {
                return Some(r);
            }
        }
    }

    /// Sends and waits, printing none of the response's lines.
    pub fn call_quiet(&mut self, cmd: Command) -> Option<Response> {
        self.shared.quiet.lock().push(self.next_id);
        self.call(cmd)
    }

    /// Sends and waits.
    pub fn call(&mut self, cmd: Command) -> Option<Response> {
        let id = self.send(cmd).ok()?;
        self.wait(id)
    }

    /// Streams a file as binary frames (an upload the server has accepted).
    pub fn send_file_frames(&mut self, file: &mut File) -> io::Result<()> {
        let mut buf = vec![0u8; MAX_CHUNK];
        loop {
            let n = file.read(&mut buf)?;
            protocol::write_frame(&mut self.w, &buf[..n])?;
            if n == 0 {
                return self.w.flush();
            }
        }
    }

    pub fn leave(&self) {
        self.shared.leaving.store(true, Ordering::SeqCst);
    }
}

/// Exits the process from a background thread (the main thread may be blocked reading the
/// terminal or stdin), restoring the terminal first if the line editor had it.
pub fn exit_now(shared: &Shared, code: i32) -> ! {
    let _ = io::stdout().flush();
    if shared.interactive.load(Ordering::SeqCst) {
        super::editor::restore_terminal();
    }
    std::process::exit(code)
}

fn read_loop(stream: Wire, ctx: Ctx, tx: Sender<Response>) {
    let mut r = BufReader::with_capacity(64 * 1024, stream);
    let mut buf = Vec::new();
    loop {
        match protocol::read_server_msg(&mut r, &mut buf) {
            Ok(ServerMsg::Event(ev)) => on_event(&ctx, ev),
            Ok(ServerMsg::Response(resp)) => {
                if let Then::Exit { .. } = resp.then {
                    ctx.shared.leaving.store(true, Ordering::SeqCst);
                }
                if !take_quiet(&ctx.shared, resp.re) {
                    ctx.printer
                        .lines(&with_lockout(&ctx.shared, resp.lines.clone()));
                }
                if let Then::ReceiveData { size } = resp.then {
                    // A shutdown notice cuts a download short: act on it once the partial
                    // file is gone.
                    if let Some(ServerMsg::Event(ev)) = receive_download(&ctx, &mut r, size) {
                        on_event(&ctx, ev);
                    }
                }
                if tx.send(resp).is_err() {
                    return;
                }
            }
            Ok(ServerMsg::Bin { bin }) => {
                if protocol::read_frame_body(&mut r, bin, &mut buf).is_err() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    if !ctx.shared.leaving.load(Ordering::SeqCst) {
        ctx.printer.line("Error. Lost the connection to the server");
        ctx.chat.shutdown();
        exit_now(&ctx.shared, 1);
    }
}

/// On a terminal, the lockout line says how long it lasts.
fn with_lockout(shared: &Shared, mut lines: Vec<String>) -> Vec<String> {
    let secs = shared.lockout.lock().take();
    if let (Some(secs), true) = (secs, shared.interactive.load(Ordering::SeqCst)) {
        let locked = [text::ACCOUNT_BLOCKED, text::INVALID_PASSWORD_BLOCKED];
        for line in lines.iter_mut().filter(|l| locked.contains(&l.as_str())) {
            *line = text::lockout_lasts(line, secs);
        }
    }
    lines
}

fn take_quiet(shared: &Shared, id: u64) -> bool {
    let mut quiet = shared.quiet.lock();
    let found = quiet.contains(&id);
    quiet.retain(|q| *q != id);
    found
}

/// Keeps Tab's list of online users current from presence notices.
fn note_presence(ctx: &Ctx, text: &str) {
    let Some(editing) = &ctx.shared.editing else {
        return;
    };
    if let Some(user) = text.strip_suffix(" logged in").filter(|u| !u.contains(' ')) {
        editing.user_online(user);
    } else if let Some(user) = text
        .strip_suffix(" logged out")
        .filter(|u| !u.contains(' '))
    {
        editing.user_offline(user);
    }
}

fn on_event(ctx: &Ctx, ev: Event) {
    match ev {
        Event::Text { text, sent } => {
            note_presence(ctx, &text);
            match look::parse_incoming(&text) {
                Some((kind, from, body)) => ctx.printer.chat(&kind, &from, &body, &text, sent),
                None => ctx.printer.line(&text),
            }
        }
        Event::Lockout { secs } => *ctx.shared.lockout.lock() = Some(secs),
        Event::Broadcast { text } => match text.split_once(": ") {
            Some((from, body)) => ctx.printer.chat(&Kind::Broadcast, from, body, &text, None),
            None => ctx.printer.line(&text),
        },
        Event::Bye { text, code } => {
            ctx.shared.leaving.store(true, Ordering::SeqCst);
            ctx.printer.line(&text);
            ctx.chat.shutdown();
            exit_now(&ctx.shared, code);
        }
        Event::Error { text } => ctx.printer.line(&text),
        Event::PrivateRequest { from } => asked_privately(ctx, from),
        Event::PrivateWithdrawn { from } => request_withdrawn(ctx, &from),
        Event::PrivateAccepted {
            user,
            addr,
            token,
            fingerprint,
        } => {
            ctx.shared.asked.lock().retain(|u| *u != user);
            ctx.printer
                .line(&format!("{user} accepts private messaging"));
            ctx.chat
                .connect_pinned(&user, &addr, &token, fingerprint.as_deref());
        }
        Event::PrivateDeclined { user } => {
            ctx.shared.asked.lock().retain(|u| *u != user);
            ctx.printer
                .line(&format!("{user} declines private messaging"))
        }
        Event::UdpIncoming {
            from,
            file,
            token,
            key,
        } => match key.as_deref().map(crate::tls::key_from_hex) {
            None => ctx.udp.expect(&token, &from, &file),
            Some(Some(key)) => ctx.udp.expect_sealed(&token, &from, &file, &key),
            Some(None) => log::warn!("a malformed transfer key from the server"),
        },
    }
}

/// `from` asks for a private chat: the question joins the pending ones (asked again
/// before an answer, it is still one question, asked again).
fn asked_privately(ctx: &Ctx, from: String) {
    let mut pending = ctx.shared.consent.lock();
    if !pending.contains(&from) {
        pending.push_back(from.clone());
    }
    drop(pending);
    ctx.printer.prompt(&crate::text::private_question(&from));
}

/// `from` no longer asks: the pending question goes, said once if it was still pending.
fn request_withdrawn(ctx: &Ctx, from: &str) {
    let mut pending = ctx.shared.consent.lock();
    let was = pending.iter().any(|f| f == from);
    pending.retain(|f| f != from);
    drop(pending);
    if was {
        ctx.printer.line(&crate::text::private_withdrawn(from));
    }
}

/// Receives a download's frames into a temporary file, renamed only when complete.
/// Returns the message that cut the frames short, if one did (the server shutting down).
fn receive_download<R: io::BufRead>(ctx: &Ctx, r: &mut R, size: u64) -> Option<ServerMsg> {
    let path = ctx.shared.download.lock().take()?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.part-{}", std::process::id()));
    remove_stale_parts(path.parent());
    let mut cut = None;
    match receive_frames(r, &tmp, size, &mut cut).and_then(|()| std::fs::rename(&tmp, &path)) {
        Ok(()) => ctx.printer.line(&format!("{name} successfully downloaded")),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            ctx.printer
                .line(&format!("Error. Download of {name} failed: {e}"));
        }
    }
    cut
}

/// Removes `.FILE.part-PID` files left in `dir` by clients that were killed mid-download
/// (PID no longer running), so they never stay forever.
fn remove_stale_parts(dir: Option<&std::path::Path>) {
    let dir = dir
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(".".as_ref());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.starts_with('.'))
            .and_then(|n| n.rsplit_once(".part-"))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = std::path::Path::new("/proc").join(pid.to_string()).exists();
        if !alive && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn receive_frames<R: io::BufRead>(
    r: &mut R,
    tmp: &PathBuf,
    size: u64,
    cut: &mut Option<ServerMsg>,
) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(256 * 1024, File::create(tmp)?);
    let mut buf = Vec::with_capacity(MAX_CHUNK);
    let mut got = 0u64;
    loop {
        let msg: ServerMsg =
            protocol::read_server_msg(r, &mut buf).map_err(|e| io::Error::other(e.to_string()))?;
        let ServerMsg::Bin { bin } = msg else {
            *cut = Some(msg);
            return Err(io::Error::other("the server interrupted the download"));
        };
        if bin == 0 {
            break;
        }
        protocol::read_frame_body(r, bin, &mut buf)?;
        out.write_all(&buf)?;
        got += bin as u64;
    }
    out.flush()?;
    if got != size {
        return Err(io::Error::other(format!(
            "expected {size} bytes, got {got}"
        )));
    }
    out.get_ref().sync_all()
}
