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

/// A non-blocking TCP socket for client `index` connecting to `addr` (the connect
/// completes later). On IPv4 loopback each client connects from an address of its own
/// in 127.1.0.0/16, as users on many hosts do: from one address, a crowd logging in at
/// once would meet chinwag's per-address share of pre-login connections (half of
/// `--max-clients`), which exists to stop a flood from one host.
pub fn open(addr: SocketAddr, index: usize) -> io::Result<TcpStream> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_nonblocking(true)?;
    s.set_tcp_nodelay(true)?;
    if let Some(from) = source_for(addr, index) {
        s.bind(&from.into())?;
    }
    match s.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(115) || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(s.into())
}

/// Client `index`'s own loopback source address (port chosen by the kernel).
fn source_for(addr: SocketAddr, index: usize) -> Option<SocketAddr> {
    match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_loopback() => {
            let (b, c) = ((index / 250) % 250 + 1, index % 250 + 1);
            let from = std::net::Ipv4Addr::new(127, 1, b as u8, c as u8);
            Some(SocketAddr::new(from.into(), 0))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_clients_connect_from_addresses_of_their_own() {
        let to: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let a = source_for(to, 0).unwrap();
        assert_eq!(a.ip().to_string(), "127.1.1.1");
        assert_eq!(source_for(to, 251).unwrap().ip().to_string(), "127.1.2.2");
        let distinct: std::collections::HashSet<_> =
            (0..14_000).map(|i| source_for(to, i)).collect();
        assert_eq!(distinct.len(), 14_000);
        assert_eq!(source_for("10.0.0.1:5000".parse().unwrap(), 3), None);
    }

    #[test]
    fn lines_lose_their_ending_and_stamps_parse() {
        assert_eq!(trim(b"PING :x\r\n"), b"PING :x");
        assert_eq!(trim(b"{}\n"), b"{}");
        assert_eq!(parse_digits(b"12345 #7"), Some(12345));
        assert_eq!(parse_digits(b" 1"), None);
        assert_eq!(parse_digits(b"99999999999999999999"), None);
    }
}
