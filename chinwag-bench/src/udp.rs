//! Loopback throughput of the peer-to-peer UDP transport, beside a plain TCP copy and
//! bare UDP sends as yardsticks.
//!
//! [`bench`] runs a real [`Receiver`] and [`send_file`] over 127.0.0.1 and checks the
//! saved copy's BLAKE3 hash; [`bench_tcp_copy`] moves the same amount through a plain TCP
//! connection (read file -> socket -> write file), and [`bench_raw_udp`] measures the
//! ceiling: bare `send` calls of full-size datagrams with nothing on top. Sizes are in MB
//! of 1,000,000 bytes.

use chinwag::tls::new_transfer_key;
use chinwag::transfer::{send_file_sealed, LossConfig, Receiver, RecvEvent, DATAGRAM};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Outcome of one benchmark run.
#[derive(Debug, Clone, Copy)]
pub struct BenchResult {
    pub bytes: u64,
    pub secs: f64,
    pub mb_per_s: f64,
}

impl BenchResult {
    pub fn new(bytes: u64, secs: f64) -> BenchResult {
        BenchResult {
            bytes,
            secs,
            mb_per_s: bytes as f64 / 1e6 / secs.max(1e-9),
        }
    }
}

/// A scratch directory under the system temp dir, named after `tag`, removed on drop.
pub fn temp_dir(tag: &str) -> io::Result<TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("chinwag-bench-{tag}-"))
        .tempdir()
}

/// Writes `bytes` pseudo-random bytes to `path` and returns their BLAKE3 hash.
pub fn random_file(path: &Path, bytes: u64, seed: u64) -> io::Result<blake3::Hash> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut hasher = blake3::Hasher::new();
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut block = vec![0u8; 1 << 16];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        rng.fill_bytes(&mut block[..n]);
        hasher.update(&block[..n]);
        w.write_all(&block[..n])?;
        left -= n as u64;
    }
    w.flush()?;
    Ok(hasher.finalize())
}

fn hash_of(path: &Path) -> io::Result<blake3::Hash> {
    Ok(blake3::Hasher::new()
        .update_reader(File::open(path)?)?
        .finalize())
}

/// Sends a random `size_mb` MB file over the UDP transport on loopback and verifies the
/// received copy; the time covers `send_file` end to end. `sealed`: every datagram sealed
/// under a fresh key, as between clients on TLS.
pub fn bench(size_mb: u64, loss: &LossConfig, sealed: bool) -> io::Result<BenchResult> {
    let tmp = temp_dir("udp")?;
    let (src_dir, dst_dir) = (tmp.path().join("src"), tmp.path().join("dst"));
    fs::create_dir_all(&src_dir)?;
    fs::create_dir_all(&dst_dir)?;
    let src = src_dir.join("bench.bin");
    let want = random_file(&src, size_mb * 1_000_000, 42)?;
    let (tx, rx) = crossbeam_channel::unbounded();
    let recv = Receiver::bind(([127, 0, 0, 1], 0).into(), dst_dir, *loss, tx)?;
    let dest: SocketAddr = ([127, 0, 0, 1], recv.local_port()).into();
    let key = sealed.then(new_transfer_key);
    match &key {
        Some(key) => recv.expect_sealed("benchtoken", "bench", "bench.bin", key),
        None => recv.expect("benchtoken", "bench", "bench.bin"),
    }
    let t0 = Instant::now();
    let sent = send_file_sealed(dest, "benchtoken", &src, loss, key.as_ref(), &mut |_, _| {})
        .map_err(|e| io::Error::other(format!("send_file: {e}")))?;
    let secs = t0.elapsed().as_secs_f64();
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(RecvEvent::Received { saved_as, .. }) => {
            if hash_of(&saved_as)? != want {
                return Err(io::Error::other("received file differs"));
            }
        }
        ev => {
            return Err(io::Error::other(format!(
                "unexpected receiver event {ev:?}"
            )))
        }
    }
    recv.shutdown();
    Ok(BenchResult::new(sent, secs))
}

/// Copies a random `size_mb` MB file through a loopback TCP connection (file -> socket ->
/// file) for comparison with [`bench()`].
pub fn bench_tcp_copy(size_mb: u64) -> io::Result<BenchResult> {
    let tmp = temp_dir("tcp")?;
    let (src, dst) = (tmp.path().join("src.bin"), tmp.path().join("dst.bin"));
    let bytes = size_mb * 1_000_000;
    let want = random_file(&src, bytes, 43)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let dst2 = dst.clone();
    let t0 = Instant::now();
    let reader = std::thread::spawn(move || -> io::Result<u64> {
        let (mut conn, _) = listener.accept()?;
        io::copy(&mut conn, &mut File::create(&dst2)?)
    });
    let mut conn = TcpStream::connect(addr)?;
    io::copy(&mut File::open(&src)?, &mut conn)?;
    conn.shutdown(std::net::Shutdown::Write)?;
    let got = reader
        .join()
        .map_err(|_| io::Error::other("tcp reader panicked"))??;
    let secs = t0.elapsed().as_secs_f64();
    if got != bytes || hash_of(&dst)? != want {
        return Err(io::Error::other("tcp copy differs"));
    }
    Ok(BenchResult::new(bytes, secs))
}

/// The ceiling: `size_mb` MB as back-to-back `send` calls of `DATAGRAM`-byte datagrams
/// (the transport's size) on loopback, to a thread that only counts what arrives. No
/// reliability: the rate is of bytes delivered, from the first send to the last arrival.
pub fn bench_raw_udp(size_mb: u64) -> io::Result<BenchResult> {
    let rx = UdpSocket::bind("127.0.0.1:0")?;
    rx.set_read_timeout(Some(Duration::from_millis(300)))?;
    socket2::SockRef::from(&rx).set_recv_buffer_size(4 << 20)?;
    let tx = UdpSocket::bind("127.0.0.1:0")?;
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
        .map_err(|_| io::Error::other("udp counter panicked"))?;
    Ok(BenchResult::new(got, (last - t0).as_secs_f64()))
}
