//! What a scenario measured: printed as a table, written as JSON, and gathered from a
//! run's JSON files into the README's Markdown table (chinwag, ngircd, InspIRCd and
//! chinwag's ratio to each).

use serde::{Deserialize, Serialize};
use std::fs;
use std::path::Path;

/// One scenario's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub scenario: String,
    /// A short label for the README (e.g. `fanout 1000 clients, 100/s`).
    pub label: String,
    pub params: serde_json::Value,
    pub date: String,
    pub machine: Machine,
    pub rows: Vec<Row>,
    /// Metrics that go into the README table.
    pub headline: Vec<String>,
    pub notes: Vec<String>,
}

/// Where it ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    /// 1-minute load average when the scenario started.
    pub load_at_start: f64,
}

impl Machine {
    pub fn now() -> Machine {
        let load = fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
            .unwrap_or(0.0);
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            load_at_start: load,
        }
    }
}

/// One server's (or one case's) figures, in the order shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub server: String,
    pub metrics: Vec<(String, f64)>,
}

impl Row {
    pub fn new(server: &str) -> Row {
        Row {
            server: server.to_string(),
            metrics: Vec::new(),
        }
    }
    pub fn put(&mut self, name: &str, value: f64) -> &mut Row {
        self.metrics.push((name.to_string(), value));
        self
    }
    pub fn get(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
}

/// Numbers as a person reads them: integers plain, small values with decimals.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 1000.0 || (a >= 100.0 && v.fract() == 0.0) || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 || !a.is_finite() || !b.is_finite() {
        "-".into()
    } else {
        format!("{:.2}x", a / b)
    }
}

impl Outcome {
    /// A plain-text table: one row per server, a ratio row when both servers ran.
    pub fn print_table(&self) {
        println!();
        println!(
            "== {} ({}; {} cores, load {:.2} at start)",
            self.label, self.date, self.machine.cores, self.machine.load_at_start
        );
        let mut names: Vec<&str> = Vec::new();
        for r in &self.rows {
            for (n, _) in &r.metrics {
                if !names.contains(&n.as_str()) {
                    names.push(n);
                }
            }
        }
        let mut table: Vec<Vec<String>> = vec![std::iter::once("server".to_string())
            .chain(names.iter().map(|s| s.to_string()))
            .collect()];
        for r in &self.rows {
            let mut line = vec![r.server.clone()];
            line.extend(names.iter().map(|n| r.get(n).map_or("-".into(), fmt_num)));
            table.push(line);
        }
        for peer in PEERS {
            if let (Some(c), Some(i)) = (self.row("chinwag"), self.row(peer)) {
                let mut line = vec![format!("chinwag/{peer}")];
                line.extend(names.iter().map(|n| match (c.get(n), i.get(n)) {
                    (Some(a), Some(b)) => ratio(a, b),
                    _ => "-".into(),
                }));
                table.push(line);
            }
        }
        let widths: Vec<usize> = (0..table[0].len())
            .map(|c| table.iter().map(|r| r[c].len()).max().unwrap_or(0))
            .collect();
        for row in &table {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (s, w))| {
                    if i == 0 {
                        format!("{s:<w$}")
                    } else {
                        format!("{s:>w$}")
                    }
                })
                .collect();
            println!("{}", cells.join("  "));
        }
        for n in &self.notes {
            println!("note: {n}");
        }
    }

    pub fn row(&self, server: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.server == server)
    }

    pub fn write_json(&self, path: &Path) -> Result<(), String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        fs::write(path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// The IRC servers chinwag is compared with, in column order.
pub const PEERS: [&str; 2] = ["ngircd", "inspircd"];

fn order(scenario: &str) -> usize {
    [
        "logins", "fanout", "blast", "dm", "room", "idle", "udp", "forum",
    ]
    .iter()
    .position(|s| *s == scenario)
    .unwrap_or(99)
}

fn read_outcomes(dir: &Path) -> Result<Vec<(String, Outcome)>, String> {
    let mut outcomes: Vec<(String, Outcome)> = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") {
            let text = fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let o: Outcome =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            outcomes.push((name.into_owned(), o));
        }
    }
    if outcomes.is_empty() {
        return Err(format!("no results in {}", dir.display()));
    }
    outcomes.sort_by(|a, b| (order(&a.1.scenario), &a.0).cmp(&(order(&b.1.scenario), &b.0)));
    Ok(outcomes)
}

/// The scenario cell: its label, the load when it started, and a machine-bound flag.
fn scenario_cell(o: &Outcome) -> String {
    let bound: Vec<&str> = o
        .rows
        .iter()
        .filter(|r| r.get("machine_bound") == Some(1.0))
        .map(|r| r.server.as_str())
        .collect();
    let mut cell = format!("{} (load {:.1})", o.label, o.machine.load_at_start);
    if !bound.is_empty() {
        cell.push_str(&format!(" **machine-bound: {}**", bound.join(", ")));
    }
    cell
}

/// Prints the Markdown table of every outcome in `dir`: headline metrics of chinwag,
/// ngircd and InspIRCd side by side with chinwag's ratio to each (cases such as udp's one
/// per row).
pub fn print_readme_table(dir: &Path) -> Result<(), String> {
    let outcomes = read_outcomes(dir)?;
    let first = &outcomes[0].1;
    println!(
        "Measured {} on one machine with {} cores; each scenario gives the 1-minute load average when it started.",
        first.date, first.machine.cores
    );
    println!();
    println!("| Scenario | Metric | chinwag | ngircd | inspircd | chinwag / ngircd | chinwag / inspircd |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let show = |v: Option<f64>| v.map_or("n/a".to_string(), fmt_num);
    for (_, o) in &outcomes {
        let cell = scenario_cell(o);
        let Some(cw) = o.row("chinwag") else {
            for r in &o.rows {
                for m in &o.headline {
                    if let Some(v) = r.get(m) {
                        println!("| {cell} | {} {m} | {} | | | | |", r.server, fmt_num(v));
                    }
                }
            }
            continue;
        };
        for m in &o.headline {
            let a = cw.get(m);
            let peers: Vec<Option<f64>> = PEERS
                .iter()
                .map(|p| o.row(p).and_then(|r| r.get(m)))
                .collect();
            let ratios: Vec<String> = peers
                .iter()
                .map(|b| match (a, b) {
                    (Some(a), Some(b)) => ratio(a, *b),
                    _ => String::new(),
                })
                .collect();
            println!(
                "| {cell} | {m} | {} | {} | {} | {} | {} |",
                show(a),
                show(peers[0]),
                show(peers[1]),
                ratios[0],
                ratios[1]
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_ratios_read_well() {
        assert_eq!(fmt_num(5000.0), "5000");
        assert_eq!(fmt_num(12.345), "12.3");
        assert_eq!(fmt_num(1.2345), "1.23");
        assert_eq!(ratio(10.0, 4.0), "2.50x");
        assert_eq!(ratio(1.0, 0.0), "-");
    }
}
