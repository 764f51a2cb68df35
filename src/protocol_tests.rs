//! Tests of `protocol`.

use super::*;
use std::io::Cursor;

#[test]
fn request_round_trips_with_flat_fields() {
    let req = Request {
        id: 7,
        cmd: Command::Message {
            to: "hans".into(),
            text: "hi there".into(),
        },
    };
    let line = encode(&req);
    assert_eq!(
        std::str::from_utf8(&line).unwrap(),
        "{\"id\":7,\"cmd\":\"message\",\"to\":\"hans\",\"text\":\"hi there\"}\n"
    );
    let back: ClientMsg = decode(&line[..line.len() - 1]).unwrap();
    assert_eq!(back, ClientMsg::Request(req));
}

#[test]
fn server_messages_are_told_apart() {
    let resp = ServerMsg::Response(Response {
        re: 1,
        ok: true,
        lines: vec!["x".into()],
        then: Then::Exit { code: 0 },
    });
    let ev = ServerMsg::Event(Event::text("y"));
    let sent = ServerMsg::Event(Event::Text {
        text: "hans: hi".into(),
        sent: Some(1_764_700_000),
    });
    for msg in [resp, ev, sent, ServerMsg::Bin { bin: 3 }] {
        let line = encode(&msg);
        let back: ServerMsg = decode(&line[..line.len() - 1]).unwrap();
        assert_eq!(back, msg);
    }
}

#[test]
fn over_long_line_is_refused_without_buffering_it_all() {
    let data = vec![b'a'; MAX_LINE * 3];
    let mut r = Cursor::new(data);
    let mut buf = Vec::new();
    assert!(matches!(
        read_line(&mut r, &mut buf),
        Err(FrameError::TooLong)
    ));
    assert!(buf.len() <= MAX_LINE);
}

#[test]
fn garbage_is_malformed() {
    let mut r = Cursor::new(b"\xff\xfe{not json\n".to_vec());
    let mut buf = Vec::new();
    let res: Result<ClientMsg, _> = read_msg(&mut r, &mut buf);
    assert!(matches!(res, Err(FrameError::Malformed(_))));
}

#[test]
fn frames_round_trip() {
    let mut out = Vec::new();
    write_frame(&mut out, b"hello").unwrap();
    let mut r = Cursor::new(out);
    let mut buf = Vec::new();
    let hdr: ClientMsg = read_msg(&mut r, &mut buf).unwrap();
    assert_eq!(hdr, ClientMsg::Bin(BinHeader { bin: 5 }));
    read_frame_body(&mut r, 5, &mut buf).unwrap();
    assert_eq!(buf, b"hello");
}

/// What the server may send (a request's text plus its framing) is read whole by a
/// client; a request line over [`MAX_LINE`] is still refused.
#[test]
fn server_lines_may_exceed_the_request_limit() {
    let text = "x".repeat(MAX_LINE);
    let line = encode(&ServerMsg::Event(Event::text(text.clone())));
    assert!(line.len() > MAX_LINE && line.len() <= MAX_SERVER_LINE);
    let mut buf = Vec::new();
    match read_server_msg(&mut &line[..], &mut buf).unwrap() {
        ServerMsg::Event(Event::Text { text: got, .. }) => assert_eq!(got, text),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read_line(&mut &line[..], &mut buf),
        Err(FrameError::TooLong)
    ));
    let over = vec![b'a'; MAX_SERVER_LINE + 1];
    assert!(matches!(
        read_server_msg(&mut &over[..], &mut buf),
        Err(FrameError::TooLong)
    ));
}

/// An offline line's send time travels with it; a live line's bytes are as before, and a
/// line from a server that sends no time reads as one without.
#[test]
fn a_text_event_carries_a_send_time_only_when_it_has_one() {
    let live = encode(&Event::text("hans: hi"));
    assert_eq!(live, b"{\"ev\":\"text\",\"text\":\"hans: hi\"}\n");
    let old: Event = decode(b"{\"ev\":\"text\",\"text\":\"hans: hi\"}").unwrap();
    assert_eq!(old, Event::text("hans: hi"));
    let stored: Event =
        decode(b"{\"ev\":\"text\",\"text\":\"hans: hi\",\"sent\":1764700000}").unwrap();
    assert_eq!(
        stored,
        Event::Text {
            text: "hans: hi".into(),
            sent: Some(1_764_700_000)
        }
    );
}
