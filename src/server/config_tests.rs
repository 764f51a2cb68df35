use super::*;

fn cfg(args: &[&str]) -> Result<Config, String> {
    let mut v = vec!["chinwag-server"];
    v.extend_from_slice(args);
    Args::try_parse_from(v)
        .map_err(|e| e.to_string())?
        .into_config()
        .map(|(c, _)| c)
}

#[test]
fn toom_form_sets_attempts_and_disables_signup() {
    let c = cfg(&["5000", "4"]).unwrap();
    assert_eq!(c.attempts, 4);
    assert!(!c.signup);
    assert_eq!(c.block_duration, Duration::from_secs(10));
}

#[test]
fn toom_form_rejects_out_of_range_and_fractions() {
    for bad in ["6", "0", "2.5", "-1"] {
        assert_eq!(cfg(&["5000", bad]).unwrap_err(), bad_attempts(bad));
    }
}

#[test]
fn messaging_form_sets_block_and_timeout() {
    let c = cfg(&["5000", "60", "120"]).unwrap();
    assert_eq!(c.attempts, 3);
    assert_eq!(c.block_duration, Duration::from_secs(60));
    assert_eq!(c.timeout, Some(Duration::from_secs(120)));
    assert!(c.signup);
}

#[test]
fn forum_form_sets_admin_password_and_wipe() {
    let c = cfg(&["5000", "destroyforum"]).unwrap();
    assert_eq!(c.admin_password.as_deref(), Some("destroyforum"));
    assert!(c.wipe_forum_on_shutdown && c.signup);
}

#[test]
fn options_win_over_short_forms() {
    let c = cfg(&["5000", "4", "--attempts", "2", "--signup"]).unwrap();
    assert_eq!(c.attempts, 2);
    assert!(c.signup);
    let c = cfg(&["5000", "pw", "--admin-password", "other"]).unwrap();
    assert_eq!(c.admin_password.as_deref(), Some("other"));
    assert!(!c.wipe_forum_on_shutdown);
}

#[test]
fn flood_control_options() {
    let c = cfg(&["5000"]).unwrap();
    assert_eq!(
        (c.rate_limit, c.rate_burst, c.login_throttle),
        (
            DEFAULT_RATE_LIMIT,
            DEFAULT_RATE_BURST,
            DEFAULT_LOGIN_THROTTLE
        )
    );
    let c = cfg(&[
        "5000",
        "--rate-limit",
        "0",
        "--rate-burst",
        "7",
        "--login-throttle",
        "0",
    ])
    .unwrap();
    assert_eq!((c.rate_limit, c.rate_burst, c.login_throttle), (0, 7, 0));
    assert!(cfg(&["5000", "--rate-burst", "0"]).is_err());
    assert!(cfg(&["5000", "--rate-limit", "-1"]).is_err());
}

#[test]
fn max_clients_defaults_to_the_machine_and_is_capped_by_it() {
    let c = cfg(&["5000"]).unwrap();
    assert_eq!(c.max_clients, c.capacity.clients);
    assert_eq!(cfg(&["5000", "--max-clients", "7"]).unwrap().max_clients, 7);
    let over = (c.capacity.clients + 1).to_string();
    let err = cfg(&["5000", "--max-clients", &over]).unwrap_err();
    assert!(
        err.starts_with(&format!(
            "Invalid --max-clients {over}: this machine can hold at most {} clients",
            c.capacity.clients
        )),
        "{err}"
    );
    assert!(!err.contains('\n'));
}

#[test]
fn data_dir_sets_default_credentials_path() {
    let c = cfg(&["5000", "--data-dir", "/tmp/x"]).unwrap();
    assert_eq!(c.credentials, PathBuf::from("/tmp/x/credentials.txt"));
}

#[test]
fn the_notice_linger_defaults_to_a_quarter_second_and_takes_fractions() {
    assert_eq!(
        cfg(&["5000"]).unwrap().notice_linger,
        Duration::from_millis(250)
    );
    let c = cfg(&["5000", "--notice-linger", "0.005"]).unwrap();
    assert_eq!(c.notice_linger, Duration::from_millis(5));
    assert!(cfg(&["5000", "--notice-linger", "-1"]).is_err());
}

#[test]
fn a_nodes_lease_defaults_to_5_s_and_needs_a_cluster() {
    let lease = |args: &[&str]| cfg(args).unwrap().cluster.unwrap().lease;
    assert_eq!(
        lease(&["5000", "--cluster", "redis://h"]),
        Duration::from_secs(5)
    );
    let short = lease(&["5000", "--cluster", "redis://h", "--lease", "2.5"]);
    assert_eq!(short, Duration::from_millis(2500));
    assert!(cfg(&["5000", "--lease", "2"]).is_err());
    assert!(cfg(&["5000", "--cluster", "redis://h", "--lease", "0"]).is_err());
}

#[test]
fn a_redis_call_gives_up_after_2_s_unless_told_otherwise() {
    let wait = |args: &[&str]| cfg(args).unwrap().cluster.unwrap().redis_timeout;
    assert_eq!(
        wait(&["5000", "--cluster", "redis://h"]),
        Duration::from_secs(2)
    );
    let short = wait(&["5000", "--cluster", "redis://h", "--redis-timeout", "0.5"]);
    assert_eq!(short, Duration::from_millis(500));
    assert!(cfg(&["5000", "--redis-timeout", "1"]).is_err());
    assert!(cfg(&["5000", "--cluster", "redis://h", "--redis-timeout", "0"]).is_err());
}
