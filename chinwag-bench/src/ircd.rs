//! The IRC peers: where ngircd and InspIRCd are installed, and the configuration each is
//! started with. Both get the same treatment as chinwag-server: loopback only, no DNS or
//! ident look-ups, no connection or clone limits, flood control off (so one client may
//! send thousands of lines a second) and send queues large enough for a blast.
//! InspIRCd refuses to run as root, so as root it is started as the `irc` user (Debian's
//! package creates it) through `setpriv`.

use crate::procs::Kind;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Finds an IRC server's binary: `NGIRCD` / `INSPIRCD` in the environment, else the
/// usual install paths, else PATH.
pub fn find(kind: Kind) -> Option<PathBuf> {
    let (var, bin) = match kind {
        Kind::Ngircd => ("NGIRCD", "ngircd"),
        Kind::Inspircd => ("INSPIRCD", "inspircd"),
        Kind::Chinwag | Kind::ChinwagTls | Kind::ChinwagCluster => return None,
    };
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p));
    }
    let mut cands = vec![
        PathBuf::from("/usr/sbin").join(bin),
        PathBuf::from("/usr/local/sbin").join(bin),
    ];
    if let Some(path) = std::env::var_os("PATH") {
        cands.extend(std::env::split_paths(&path).map(|d| d.join(bin)));
    }
    cands.into_iter().find(|p| p.is_file())
}

/// The command line that runs `kind` in the foreground on `port`, its configuration
/// written into `dir`.
pub fn command(kind: Kind, exe: &Path, dir: &Path, port: u16) -> Result<Command, String> {
    let conf = dir.join(format!("{}.conf", kind.name()));
    let text = match kind {
        Kind::Ngircd => ngircd_conf(port),
        _ => inspircd_conf(port, dir),
    };
    fs::write(&conf, text).map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
    if kind == Kind::Ngircd {
        let mut cmd = Command::new(exe);
        cmd.arg("-n").arg("-f").arg(&conf);
        return Ok(cmd);
    }
    let mut cmd = if running_as_root() {
        // The unprivileged user must read the configuration and write its log there.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o777))
            .map_err(|e| format!("cannot open {} to the irc user: {e}", dir.display()))?;
        let mut c = Command::new("setpriv");
        c.args(["--reuid=irc", "--regid=irc", "--clear-groups", "--"])
            .arg(exe);
        c
    } else {
        Command::new(exe)
    };
    cmd.args(["--nofork", "--nopid", "--config"]).arg(&conf);
    Ok(cmd)
}

fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn ngircd_conf(port: u16) -> String {
    format!(
        "[Global]\n\
         Name = bench.irc\n\
         Info = chinwag-bench\n\
         AdminInfo1 = bench\nAdminInfo2 = bench\nAdminEMail = bench@localhost\n\
         Listen = 127.0.0.1\n\
         Ports = {port}\n\
         MotdPhrase = bench\n\
         [Limits]\n\
         MaxConnections = 0\n\
         MaxConnectionsIP = 0\n\
         MaxJoins = 0\n\
         MaxPenaltyTime = 0\n\
         PingTimeout = 600\n\
         PongTimeout = 600\n\
         [Options]\n\
         DNS = no\n\
         Ident = no\n\
         PAM = no\n"
    )
}

/// InspIRCd 3: commandrate is in thousandths of a command per second.
fn inspircd_conf(port: u16, dir: &Path) -> String {
    let motd = dir.join("motd.txt");
    let _ = fs::write(&motd, "bench\n");
    format!(
        r#"<server name="bench.irc" description="chinwag-bench" network="bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="{port}" type="clients">
<connect allow="*" timeout="60" pingfreq="600" threshold="1000000"
         commandrate="1000000000" fakelag="off" hardsendq="67108864"
         softsendq="1048576" recvq="1048576" localmax="100000" globalmax="100000"
         limit="100000" maxconnwarn="off" resolvehostnames="no" useident="no">
<files motd="{motd}">
<channels users="20" opers="60">
<dns timeout="1">
<options prefixquit="Quit: " syntaxhints="no" announcets="yes" hostintopic="yes"
         pingwarning="15" splitwhois="no" exemptchanops="">
<security hideserver="" userstats="Pu" customversion="" flatlinks="no"
          hidesplits="no" hideulines="no" hidebans="no" maxtargets="20">
<performance quietbursts="yes" softlimit="100000" somaxconn="128" netbuffersize="10240">
<whowas groupsize="10" maxgroups="100000" maxkeep="3d">
"#,
        motd = motd.display()
    )
}
