//! The bus messages' wire form and the node's default name.

use super::*;

#[test]
fn bus_messages_round_trip_and_name_defaults_to_host_and_port() {
    let msg = BusMsg::Reaped {
        node: "a:1".into(),
        users: vec!["yoda".into()],
    };
    let text = serde_json::to_string(&msg).unwrap();
    assert_eq!(serde_json::from_str::<BusMsg>(&text).unwrap(), msg);
    assert!(default_name(4000).ends_with(":4000"));
}
