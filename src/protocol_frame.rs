//! Lines and frames on the wire (see `protocol`): one JSON message per line, read
//! without ever buffering more than the limit, and binary frames after a header line.

use super::{BinHeader, ServerMsg, MAX_CHUNK, MAX_LINE, MAX_SERVER_LINE};
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, Read, Write};

/// Why a line could not be read.
#[derive(Debug)]
pub enum FrameError {
    /// The peer closed the connection.
    Closed,
    /// A line longer than [`MAX_LINE`].
    TooLong,
    /// Not UTF-8 or not a message of the expected shape.
    Malformed(String),
    Io(io::Error),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Closed => write!(f, "connection closed"),
            FrameError::TooLong => write!(f, "line longer than {MAX_LINE} bytes"),
            FrameError::Malformed(why) => write!(f, "malformed message: {why}"),
            FrameError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// Reads one line of at most [`MAX_LINE`] bytes into `buf` (without the newline).
/// Never buffers more than the limit, whatever the peer sends.
pub fn read_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>) -> Result<(), FrameError> {
    read_line_within(r, buf, MAX_LINE)
}

/// [`read_line`] with another limit ([`MAX_SERVER_LINE`] for what the server sends).
pub fn read_line_within<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> Result<(), FrameError> {
    buf.clear();
    let n = r.take(limit as u64).read_until(b'\n', buf)?;
    if n == 0 {
        return Err(FrameError::Closed);
    }
    if buf.last() != Some(&b'\n') {
        return Err(if n >= limit {
            FrameError::TooLong
        } else {
            FrameError::Closed
        });
    }
    buf.pop();
    Ok(())
}

/// Reads and decodes one JSON line.
pub fn read_msg<R: BufRead, T: for<'de> Deserialize<'de>>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> Result<T, FrameError> {
    read_line(r, buf)?;
    decode(buf)
}

/// Reads and decodes one line from the server (up to [`MAX_SERVER_LINE`]).
pub fn read_server_msg<R: BufRead>(r: &mut R, buf: &mut Vec<u8>) -> Result<ServerMsg, FrameError> {
    read_line_within(r, buf, MAX_SERVER_LINE)?;
    decode(buf)
}

/// Decodes one line (without its newline).
pub fn decode<T: for<'de> Deserialize<'de>>(line: &[u8]) -> Result<T, FrameError> {
    serde_json::from_slice(line).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// Encodes a message as one line, newline included.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec(msg).expect("protocol types always serialize");
    out.push(b'\n');
    out
}

/// Writes one binary frame (header line and bytes). An empty `data` ends the stream.
pub fn write_frame<W: Write>(w: &mut W, data: &[u8]) -> io::Result<()> {
    w.write_all(&encode(&BinHeader { bin: data.len() }))?;
    w.write_all(data)
}

/// Reads the raw bytes of a frame whose header announced `len` bytes.
pub fn read_frame_body<R: Read>(r: &mut R, len: usize, buf: &mut Vec<u8>) -> io::Result<()> {
    if len > MAX_CHUNK {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    // Read into spare capacity rather than zero `len` bytes first (most of a debug
    // build's transfer time went there).
    buf.clear();
    buf.reserve(len);
    r.by_ref().take(len as u64).read_to_end(buf)?;
    if buf.len() < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "frame cut short",
        ));
    }
    Ok(())
}
