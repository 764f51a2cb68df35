//! Moving files: `udp` (the peer-to-peer transport on loopback against a TCP copy and bare
//! UDP sends) and `forum` (an upload and a download through chinwag-server, whose uploads
//! are fsynced, beside the disk's own write + fdatasync throughput).

use super::{check_alive, Ctx, Meter};
use crate::procs::{password, user_name, Kind};
use crate::report::Row;
use crate::udp::{self, BenchResult};
use chinwag::protocol::{self, Command, Request, Response, ServerMsg, Then};
use chinwag::transfer::LossConfig;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

fn mb_row(name: &str, r: &BenchResult) -> Row {
    let mut row = Row::new(name);
    row.put("mb_per_s", r.mb_per_s)
        .put("mib_per_s", r.mb_per_s * 1e6 / (1 << 20) as f64)
        .put("secs", r.secs)
        .put("mb", r.bytes as f64 / 1e6);
    row
}

/// The transport at 0/1/5% loss (with `tls`, each also sealed, as over TLS), then the
/// yardsticks.
pub fn udp(size_mb: u64, tls: bool) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let runs = [
        ("udp 0% loss", 0.0, false),
        ("udp 0% loss sealed", 0.0, true),
        ("udp 1% loss", 0.01, false),
        ("udp 1% loss sealed", 0.01, true),
        ("udp 5% loss", 0.05, false),
        ("udp 5% loss sealed", 0.05, true),
    ];
    for (name, drop, sealed) in runs.into_iter().filter(|r| tls || !r.2) {
        eprintln!("udp: {size_mb} MB, {name}...");
        let loss = LossConfig {
            drop,
            duplicate: 0.0,
            reorder: 0.0,
            seed: 7,
        };
        let r = udp::bench(size_mb, &loss, sealed).map_err(|e| format!("{name}: {e}"))?;
        rows.push(mb_row(name, &r));
    }
    eprintln!("udp: {size_mb} MB, plain TCP copy...");
    let r = udp::bench_tcp_copy(size_mb).map_err(|e| format!("tcp copy: {e}"))?;
    rows.push(mb_row("tcp copy", &r));
    eprintln!("udp: {size_mb} MB, bare UDP sends...");
    let r = udp::bench_raw_udp(size_mb).map_err(|e| format!("raw udp: {e}"))?;
    rows.push(mb_row("raw udp send", &r));
    Ok(rows)
}

/// The disk's ceiling for an fsynced upload: `bytes` written in 64 KiB pieces, then one
/// fdatasync, in `dir` (the file system the server's data directory is on).
fn disk_fdatasync(dir: &Path, bytes: u64) -> std::io::Result<BenchResult> {
    let path = dir.join("fdatasync.bin");
    let block = vec![0x5Au8; 64 * 1024];
    let t0 = Instant::now();
    let mut f = File::create(&path)?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.sync_data()?;
    let r = BenchResult::new(bytes, t0.elapsed().as_secs_f64());
    std::fs::remove_file(&path)?;
    Ok(r)
}

pub fn forum(ctx: &Ctx, size_mb: u64, notes: &mut Vec<String>) -> Result<Vec<Row>, String> {
    let bytes = size_mb * 1_000_000;
    let tmp = udp::temp_dir("forum").map_err(|e| format!("temp dir: {e}"))?;
    let src = tmp.path().join("big.bin");
    udp::random_file(&src, bytes, 44).map_err(|e| format!("source file: {e}"))?;
    eprintln!("forum: {size_mb} MB, the disk's write + fdatasync...");
    let disk = disk_fdatasync(tmp.path(), bytes).map_err(|e| format!("fdatasync: {e}"))?;
    let mut server = ctx.start(Kind::Chinwag, 1, 1)?;
    let mut c = Blocking::login(&server.addr)?;
    c.call(Command::Crt {
        title: "bench".into(),
    })?;
    eprintln!("forum: {size_mb} MB, UPD...");
    let meter = Meter::start(&server);
    let up = c.upload(&src, bytes)?;
    let mut up_row = mb_row("chinwag UPD", &up);
    meter.put(&mut up_row);
    eprintln!("forum: {size_mb} MB, DWN...");
    let meter = Meter::start(&server);
    let down = c.download(bytes)?;
    let mut down_row = mb_row("chinwag DWN", &down);
    meter.put(&mut down_row);
    check_alive(&mut server, notes);
    Ok(vec![
        up_row,
        down_row,
        mb_row("disk write + fdatasync", &disk),
    ])
}

/// One blocking chinwag client for the forum transfers.
struct Blocking {
    w: TcpStream,
    r: BufReader<TcpStream>,
    id: u64,
    line: Vec<u8>,
}

impl Blocking {
    fn login(addr: &std::net::SocketAddr) -> Result<Blocking, String> {
        let w = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        w.set_read_timeout(Some(Duration::from_secs(120)))
            .map_err(|e| e.to_string())?;
        let r = BufReader::with_capacity(256 * 1024, w.try_clone().map_err(|e| e.to_string())?);
        let mut c = Blocking {
            w,
            r,
            id: 0,
            line: Vec::new(),
        };
        let hello = Command::Hello {
            udp_port: 0,
            p2p_port: 0,
        };
        c.call(hello)?;
        let asked = c.call(Command::Username { name: user_name(0) })?;
        let pw = password(0);
        let done = c.call(match asked.then {
            Then::AskNewPassword => Command::NewPassword { password: pw },
            _ => Command::Password { password: pw },
        })?;
        if done.then != Then::LoggedIn {
            return Err(format!("forum: not logged in: {:?}", done.lines));
        }
        Ok(c)
    }

    fn send(&mut self, cmd: Command) -> Result<u64, String> {
        self.id += 1;
        let line = protocol::encode(&Request { id: self.id, cmd });
        self.w.write_all(&line).map_err(|e| format!("send: {e}"))?;
        Ok(self.id)
    }

    /// The next response to `id`, skipping events.
    fn answer(&mut self, id: u64) -> Result<Response, String> {
        loop {
            match protocol::read_msg::<_, ServerMsg>(&mut self.r, &mut self.line) {
                Ok(ServerMsg::Response(resp)) if resp.re == id => return Ok(resp),
                Ok(_) => {}
                Err(e) => return Err(format!("forum: {e}")),
            }
        }
    }

    fn call(&mut self, cmd: Command) -> Result<Response, String> {
        let id = self.send(cmd)?;
        self.answer(id)
    }

    /// UPD of `src`: from the request to the server's confirmation (after its fsync).
    fn upload(&mut self, src: &Path, bytes: u64) -> Result<BenchResult, String> {
        let t0 = Instant::now();
        let id = self.send(Command::Upd {
            title: "bench".into(),
            file: "big.bin".into(),
            size: bytes,
        })?;
        let go = self.answer(id)?;
        if go.then != Then::SendData {
            return Err(format!("forum: UPD refused: {:?}", go.lines));
        }
        let mut f = File::open(src).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; protocol::MAX_CHUNK];
        loop {
            let n = f.read(&mut buf).map_err(|e| e.to_string())?;
            protocol::write_frame(&mut self.w, &buf[..n]).map_err(|e| format!("send: {e}"))?;
            if n == 0 {
                break;
            }
        }
        let done = self.answer(id)?;
        if !done.ok {
            return Err(format!("forum: upload failed: {:?}", done.lines));
        }
        Ok(BenchResult::new(bytes, t0.elapsed().as_secs_f64()))
    }

    /// DWN of the uploaded file: from the request to the end frame (bytes counted).
    fn download(&mut self, bytes: u64) -> Result<BenchResult, String> {
        let t0 = Instant::now();
        let id = self.send(Command::Dwn {
            title: "bench".into(),
            file: "big.bin".into(),
        })?;
        let resp = self.answer(id)?;
        if !matches!(resp.then, Then::ReceiveData { .. }) {
            return Err(format!("forum: DWN refused: {:?}", resp.lines));
        }
        let (mut got, mut body) = (0u64, Vec::new());
        loop {
            match protocol::read_msg::<_, ServerMsg>(&mut self.r, &mut self.line) {
                Ok(ServerMsg::Bin { bin: 0 }) => break,
                Ok(ServerMsg::Bin { bin }) => {
                    protocol::read_frame_body(&mut self.r, bin, &mut body)
                        .map_err(|e| format!("forum: {e}"))?;
                    got += bin as u64;
                }
                Ok(_) => {}
                Err(e) => return Err(format!("forum: {e}")),
            }
        }
        if got != bytes {
            return Err(format!("forum: downloaded {got} of {bytes} bytes"));
        }
        Ok(BenchResult::new(got, t0.elapsed().as_secs_f64()))
    }
}
