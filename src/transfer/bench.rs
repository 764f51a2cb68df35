//! Loopback throughput benchmarks for `chinwag-bench`, plus the small temp
//! dir / random file / file comparison helpers the tests share.
//!
//! [`bench`] runs a real [`Receiver`] and [`send_file`] over 127.0.0.1 and
//! checks the saved copy byte for byte; [`bench_tcp_copy`] moves the same
//! amount through a plain TCP connection (read file -> socket -> write file)
//! as a yardstick, and [`bench_raw_udp`] measures the ceiling: bare `send` calls of
//! full-size datagrams with nothing on top. Sizes are in MB of 1,000,000 bytes.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use super::lossy::LossConfig;
use super::{bind_udp, send_file, Receiver, RecvEvent, DATAGRAM};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

/// Outcome of one benchmark run.
#[derive(Debug, Clone, Copy)]
pub struct BenchResult {
    pub bytes: u64,
    pub secs: f64,
    pub mb_per_s: f64,
}

impl BenchResult {
    fn new(bytes: u64, secs: f64) -> BenchResult {
        BenchResult {
            bytes,
            secs,
            mb_per_s: bytes as f64 / 1e6 / secs.max(1e-9),
        }
    }
}

pub(crate) use tempfile::TempDir;

/// A scratch directory under the system temp dir, named after `tag`, removed on drop.
pub(crate) fn temp_dir(tag: &str) -> io::Result<TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("chinwag-{tag}-"))
        .tempdir()
}

/// Write `bytes` pseudo-random bytes to `path`.
pub(crate) fn random_file(path: &Path, bytes: u64, seed: u64) -> io::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut block = vec![0u8; 1 << 16];
    let mut left = bytes;
    while left > 0 {
        rng.fill_bytes(&mut block);
        let n = left.min(block.len() as u64) as usize;
        w.write_all(&block[..n])?;
        left -= n as u64;
    }
    w.flush()
}

/// True if both files have identical contents (streamed, bounded memory).
pub(crate) fn same_contents(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut fa, mut fb) = (File::open(a)?, File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        if n != read_full(&mut fb, &mut bb)? || ba[..n] != bb[..n] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn other(msg: String) -> io::Error {
    io::Error::other(msg)
}

/// Send a random `size_mb` MB file over the UDP transport on loopback and
/// verify the received copy; the time covers `send_file` end to end.
pub fn bench(size_mb: u64, loss: &LossConfig) -> io::Result<BenchResult> {
    let tmp = temp_dir("bench")?;
    let (src_dir, dst_dir) = (tmp.path().join("src"), tmp.path().join("dst"));
    fs::create_dir_all(&src_dir)?;
    fs::create_dir_all(&dst_dir)?;
    let src = src_dir.join("bench.bin");
    let bytes = size_mb * 1_000_000;
    random_file(&src, bytes, 42)?;
    let (tx, rx) = crossbeam_channel::unbounded();
    let recv = Receiver::bind("127.0.0.1:0".parse().unwrap(), dst_dir, *loss, tx)?;
    let dest: SocketAddr = ([127, 0, 0, 1], recv.local_port()).into();
    recv.expect("benchtoken", "bench", "bench.bin");
    let t0 = Instant::now();
    let sent = send_file(dest, "benchtoken", &src, loss, &mut |_, _| {})
        .map_err(|e| other(format!("send_file: {e}")))?;
    let secs = t0.elapsed().as_secs_f64();
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(RecvEvent::Received { saved_as, .. }) => {
            if !same_contents(&src, &saved_as)? {
                return Err(other("received file differs".into()));
            }
        }
        other_ev => return Err(other(format!("unexpected receiver event {other_ev:?}"))),
    }
    recv.shutdown();
    Ok(BenchResult::new(sent, secs))
}

/// Copy a random `size_mb` MB file through a loopback TCP connection
/// (file -> socket -> file) for comparison with [`bench()`].
pub fn bench_tcp_copy(size_mb: u64) -> io::Result<BenchResult> {
    let tmp = temp_dir("tcpbench")?;
    let src = tmp.path().join("src.bin");
    let dst = tmp.path().join("dst.bin");
    let bytes = size_mb * 1_000_000;
    random_file(&src, bytes, 43)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let dst2 = dst.clone();
    let t0 = Instant::now();
    let reader = std::thread::spawn(move || -> io::Result<u64> {
        let (mut conn, _) = listener.accept()?;
        let mut out = File::create(&dst2)?;
        io::copy(&mut conn, &mut out)
    });
    let mut conn = TcpStream::connect(addr)?;
    io::copy(&mut File::open(&src)?, &mut conn)?;
    conn.shutdown(std::net::Shutdown::Write)?;
    let got = reader
        .join()
        .map_err(|_| other("tcp reader panicked".into()))??;
    let secs = t0.elapsed().as_secs_f64();
    if got != bytes || !same_contents(&src, &dst)? {
        return Err(other("tcp copy differs".into()));
    }
    Ok(BenchResult::new(bytes, secs))
}

/// The ceiling: `size_mb` MB as back-to-back `send` calls of `DATAGRAM`-byte datagrams
/// (the transport's size) on loopback, to a thread that only counts what arrives. No
/// reliability: the rate is of bytes delivered, from the first send to the last arrival.
pub fn bench_raw_udp(size_mb: u64) -> io::Result<BenchResult> {
    let rx = bind_udp("127.0.0.1:0".parse().unwrap())?;
    rx.set_read_timeout(Some(Duration::from_millis(300)))?;
    let tx = bind_udp("127.0.0.1:0".parse().unwrap())?;
    tx.connect(rx.local_addr()?)?;
    let count = size_mb * 1_000_000 / DATAGRAM as u64;
    let counter = std::thread::spawn(move || {
        let mut buf = vec![0u8; 2048];
        let (mut got, mut last) = (0u64, Instant::now());
        while let Ok(n) = rx.recv(&mut buf) {
            got += n as u64;
            last = Instant::now();
        }
        (got, last)
    });
    let payload = vec![0xA5u8; DATAGRAM];
    let t0 = Instant::now();
    for _ in 0..count {
        // A full send buffer only loses this datagram, which the count shows.
        let _ = tx.send(&payload);
    }
    let (got, last) = counter
        .join()
        .map_err(|_| other("udp counter panicked".into()))?;
    Ok(BenchResult::new(got, (last - t0).as_secs_f64()))
}
