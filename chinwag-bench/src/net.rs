//! Socket helpers of the client side: the non-blocking connect, the write every sender
//! uses on a non-blocking socket, and the byte-level parsing of received lines.

use socket2::{Domain, Socket, Type};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

/// Writes all of `bytes` to a non-blocking socket, waiting briefly whenever it is full.
pub fn send_all(sock: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match (&*sock).write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_micros(50))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `line` without its trailing CR/LF.
pub fn trim(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = line {
        line = rest;
    }
    line
}

/// The decimal number at the start of `s`, if any.
pub fn parse_digits(s: &[u8]) -> Option<u64> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    Some(
        s[..digits]
            .iter()
            .fold(0u64, |v, d| v * 10 + u64::from(d - b'0')),
    )
}

/// A non-blocking TCP socket connecting to `addr` (the connect completes later).
pub fn open(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_nonblocking(true)?;
    s.set_tcp_nodelay(true)?;
    match s.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(115) || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_lose_their_ending_and_stamps_parse() {
        assert_eq!(trim(b"PING :x\r\n"), b"PING :x");
        assert_eq!(trim(b"{}\n"), b"{}");
        assert_eq!(parse_digits(b"12345 #7"), Some(12345));
        assert_eq!(parse_digits(b" 1"), None);
        assert_eq!(parse_digits(b"99999999999999999999"), None);
    }
}
