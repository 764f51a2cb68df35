//! What a scenario measured: printed as a table, written as JSON, and gathered from a
//! run's JSON files into the README's Markdown table (chinwag, ngircd and their ratio).

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
        let (cw, irc) = (self.row("chinwag"), self.row("ngircd"));
        if let (Some(c), Some(i)) = (cw, irc) {
            let mut line = vec!["chinwag/ngircd".to_string()];
            line.extend(names.iter().map(|n| match (c.get(n), i.get(n)) {
                (Some(a), Some(b)) => ratio(a, b),
                _ => "-".into(),
            }));
            table.push(line);
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

fn order(scenario: &str) -> usize {
    ["logins", "fanout", "dm", "room", "idle", "udp"]
        .iter()
        .position(|s| *s == scenario)
        .unwrap_or(99)
}

/// Prints the Markdown table of every outcome in `dir`: headline metrics of chinwag and
/// ngircd side by side with their ratio (UDP cases one per row).
pub fn print_readme_table(dir: &Path) -> Result<(), String> {
    let mut outcomes: Vec<(String, Outcome)> = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") {
            let text = fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let o: Outcome =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
            outcomes.push((
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                o,
            ));
        }
    }
    if outcomes.is_empty() {
        return Err(format!("no results in {}", dir.display()));
    }
    outcomes.sort_by(|a, b| (order(&a.1.scenario), &a.0).cmp(&(order(&b.1.scenario), &b.0)));
    let first = &outcomes[0].1;
    let max_load = outcomes
        .iter()
        .map(|(_, o)| o.machine.load_at_start)
        .fold(0.0, f64::max);
    println!(
        "Measured {} on one machine with {} cores (1-minute load average at most {:.2} when a scenario started).",
        first.date, first.machine.cores, max_load
    );
    println!();
    println!("| Scenario | Metric | chinwag | ngircd | chinwag / ngircd |");
    println!("|---|---|---:|---:|---:|");
    for (_, o) in &outcomes {
        let cw = o.row("chinwag");
        let irc = o.row("ngircd");
        if cw.is_none() {
            // Cases rather than servers (udp): one row each.
            for r in &o.rows {
                for m in &o.headline {
                    if let Some(v) = r.get(m) {
                        println!("| {} | {} {m} | {} | | |", o.label, r.server, fmt_num(v));
                    }
                }
            }
            continue;
        }
        for m in &o.headline {
            let a = cw.and_then(|r| r.get(m));
            let b = irc.and_then(|r| r.get(m));
            let show = |v: Option<f64>| v.map_or("n/a".to_string(), fmt_num);
            let rt = match (a, b) {
                (Some(a), Some(b)) => ratio(a, b),
                _ => String::new(),
            };
            println!("| {} | {m} | {} | {} | {rt} |", o.label, show(a), show(b));
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
