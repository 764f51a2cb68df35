use super::*;

fn cmd(line: &str) -> Command {
    match parse(line) {
        Ok(Input::Server(c)) => c,
        other => panic!("{line}: {other:?}"),
    }
}

#[test]
fn messages_keep_their_spaces() {
    assert_eq!(
        cmd("message hans Hey  Dude"),
        Command::Message {
            to: "hans".into(),
            text: "Hey  Dude".into()
        }
    );
    assert_eq!(
        cmd("BCM Hello world! COMP3331"),
        Command::Bcm {
            text: "Hello world! COMP3331".into()
        }
    );
    assert_eq!(
        cmd("EDT 3331 2 I PWNED Networks exam"),
        Command::Edt {
            title: "3331".into(),
            n: 2,
            text: "I PWNED Networks exam".into()
        }
    );
}

#[test]
fn usage_errors_name_the_right_usage() {
    assert_eq!(
        parse("message hans").unwrap_err(),
        "Error. Usage: message <user> <message>"
    );
    assert_eq!(
        parse("whoelsesince soon").unwrap_err(),
        "Error. Usage: whoelsesince <seconds>"
    );
    assert_eq!(parse("LST 3331").unwrap_err(), "Incorrect syntax for LST");
    assert_eq!(parse("RDT").unwrap_err(), "Incorrect syntax for RDT");
    assert_eq!(
        parse("DLT 3331 one").unwrap_err(),
        "Incorrect syntax for DLT"
    );
    assert_eq!(parse("BCM ").unwrap_err(), "Error. Usage: BCM <message>");
    assert_eq!(parse("SRM x hi").unwrap_err(), text::ROOM_ID_NUMBER);
    assert_eq!(
        parse("RDM x 1 Jun 2022 16:00:00").unwrap_err(),
        text::BAD_MESSAGE_TYPE
    );
    assert_eq!(parse("RDM b yesterday").unwrap_err(), text::BAD_TIMESTAMP);
}

#[test]
fn unknown_and_wrong_case_commands_are_invalid() {
    for line in ["whatsthetime", "HELLO", "bcm hi", "Logout"] {
        assert_eq!(parse(line).unwrap_err(), text::INVALID_COMMAND, "{line}");
    }
    assert_eq!(parse("").unwrap(), Input::Nothing);
}

#[test]
fn rdm_accepts_the_three_time_forms() {
    for t in [
        "1 Jun 2022 16:01:20",
        "01 Jun 2022 16:01:20",
        "01/06/2022 16:01:20",
    ] {
        assert_eq!(
            cmd(&format!("RDM s {t}")),
            Command::Rdm {
                kind: "s".into(),
                since: t.into()
            }
        );
    }
}

#[test]
fn srb_takes_many_users() {
    assert_eq!(
        cmd("SRB hans luke"),
        Command::Srb {
            users: vec!["hans".into(), "luke".into()]
        }
    );
    assert_eq!(
        parse("SRB").unwrap_err(),
        "Error. Usage: SRB <user> [<user> ...]"
    );
}

#[test]
fn every_command_in_help_parses_or_names_its_usage() {
    for (name, _) in USAGE {
        let res = parse(name);
        assert!(
            res.is_ok() || res.as_ref().unwrap_err() != text::INVALID_COMMAND,
            "{name}"
        );
    }
}
