//! Scratch directories, random files and file comparison for the transfer tests.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

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
