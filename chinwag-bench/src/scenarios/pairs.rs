//! Traffic between chosen users (chinwag only, IRC has no equivalent here): `dm` (pairs
//! exchanging direct messages under background broadcasts) and `room` (an SRB room, SRM
//! at a rate).

use super::traffic::{broadcast_line, drain, gather, pace, put_deliveries};
use super::{check_alive, note_failures, Ctx};
use crate::clients::Crowd;
use crate::procs::{user_name, Kind};
use crate::report::Row;
use chinwag::protocol::Command;
use std::thread;
use std::time::Duration;

/// The dm scenario's load.
pub struct DmLoad {
    pub pairs: usize,
    /// Messages per second sent by each member of a pair.
    pub rate: f64,
    pub secs: f64,
    pub background: usize,
    pub bg_rate: f64,
}

pub fn dm(ctx: &Ctx, kind: Kind, load: &DmLoad, notes: &mut Vec<String>) -> Result<Row, String> {
    let (pairs, background) = (load.pairs, load.background);
    eprintln!(
        "dm: {} with {pairs} pairs, {background} background clients...",
        kind.name()
    );
    let total_clients = background + 1 + 2 * pairs;
    let mut server = ctx.start(kind, total_clients, total_clients)?;
    let bg = Crowd::start(
        &ctx.plan(&server, "", true),
        0,
        background,
        ctx.login_timeout,
    )?;
    note_failures(kind, &bg, notes);
    let mut bg_sender = Crowd::start(
        &ctx.plan(&server, "", true),
        background,
        1,
        ctx.login_timeout,
    )?;
    let talk_plan = ctx.plan(&server, "dm=", true);
    let mut talkers = Crowd::start(&talk_plan, background + 1, 2 * pairs, ctx.login_timeout)?;
    note_failures(kind, &talkers, notes);
    if talkers.len() < 2 * pairs {
        let got = talkers.len();
        return Err(format!("dm: only {got} of {} talkers logged in", 2 * pairs));
    }
    thread::sleep(Duration::from_secs(1));
    let names: Vec<String> = talkers.links.iter().map(|l| user_name(l.index)).collect();
    let rate = load.rate * 2.0 * pairs as f64;
    let total = (rate * load.secs).round() as usize;
    let bg_total = (load.bg_rate * load.secs).round() as usize;
    let (sent, first) = thread::scope(|s| {
        let bg_links = &mut bg_sender.links;
        if bg_total > 0 && !bg_links.is_empty() {
            s.spawn(move || {
                pace(bg_links, load.bg_rate, bg_total, |l, k, ts| {
                    broadcast_line(l, format!("bg={ts} #{k}"))
                })
            });
        }
        pace(&mut talkers.links, rate, total, |l, k, ts| {
            let to = names[(k % (2 * pairs)) ^ 1].clone();
            let text = format!("dm={ts} #{k}");
            l.request(Command::Message { to, text })
        })
    });
    drain(&talkers, sent);
    check_alive(&mut server, notes);
    let seen = talkers.stop();
    bg_sender.stop();
    bg.stop();
    let (lat, delivered, per_s) = gather(&seen, first);
    let mut row = Row::new(kind.name());
    row.put("pairs", pairs as f64);
    put_deliveries(&mut row, sent, sent, delivered, per_s, &lat);
    Ok(row)
}

pub fn room(
    ctx: &Ctx,
    kind: Kind,
    members: usize,
    rate: f64,
    secs: f64,
    notes: &mut Vec<String>,
) -> Result<Row, String> {
    eprintln!("room: {} with {members} members, {rate}/s...", kind.name());
    let members = members.max(2);
    let mut server = ctx.start(kind, members, members)?;
    let mut crowd = Crowd::start(
        &ctx.plan(&server, "rm=", true),
        0,
        members,
        ctx.login_timeout,
    )?;
    note_failures(kind, &crowd, notes);
    if crowd.len() < 2 {
        return Err("room: fewer than two members logged in".into());
    }
    let others: Vec<String> = crowd.links[1..]
        .iter()
        .map(|l| user_name(l.index))
        .collect();
    crowd.links[0]
        .request(Command::Srb { users: others })
        .map_err(|e| format!("SRB: {e}"))?;
    // A fresh data directory: the first room is number 1.
    thread::sleep(Duration::from_secs(1));
    let turns = crowd.links.len().min(10);
    let total = (rate * secs).round() as usize;
    let (sent, first) = pace(&mut crowd.links[..turns], rate, total, |l, k, ts| {
        let text = format!("rm={ts} #{k}");
        l.request(Command::Srm { room: 1, text })
    });
    let expected = sent * (crowd.len() as u64 - 1);
    drain(&crowd, expected);
    check_alive(&mut server, notes);
    let n = crowd.len();
    let seen = crowd.stop();
    let (lat, delivered, per_s) = gather(&seen, first);
    let mut row = Row::new(kind.name());
    row.put("members", n as f64);
    put_deliveries(&mut row, sent, expected, delivered, per_s, &lat);
    Ok(row)
}
