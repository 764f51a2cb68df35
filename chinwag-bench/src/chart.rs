//! The chart a latency scenario writes beside its JSON (`FILE.json` -> `FILE.svg`): one
//! line per server through its p50, p90, p99 and maximum latency, on a logarithmic
//! millisecond axis so a 0.1 ms median and a 100 ms maximum both read.

use crate::report::Outcome;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// The percentiles shown, left to right.
const POINTS: [(&str, &str); 4] = [
    ("p50", "p50_ms"),
    ("p90", "p90_ms"),
    ("p99", "p99_ms"),
    ("max", "max_ms"),
];

const COLOURS: [RGBColor; 4] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
];

/// Each server's latency points (x = percentile index, y = ms), if it has them.
fn series(outcome: &Outcome) -> Vec<(String, Vec<(f64, f64)>)> {
    outcome
        .rows
        .iter()
        .filter_map(|r| {
            let pts: Option<Vec<(f64, f64)>> = POINTS
                .iter()
                .enumerate()
                .map(|(i, (_, m))| r.get(m).map(|v| (i as f64, v.max(0.001))))
                .collect();
            pts.map(|p| (r.server.clone(), p))
        })
        .collect()
}

/// Writes the SVG beside `json` when the outcome has latency percentiles; returns where.
pub fn write_beside(outcome: &Outcome, json: &Path) -> Result<Option<PathBuf>, String> {
    let lines = series(outcome);
    if lines.is_empty() {
        return Ok(None);
    }
    let svg = json.with_extension("svg");
    draw(outcome, &lines, &svg).map_err(|e| format!("cannot draw {}: {e}", svg.display()))?;
    Ok(Some(svg))
}

fn draw(
    outcome: &Outcome,
    lines: &[(String, Vec<(f64, f64)>)],
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let ys = lines.iter().flat_map(|(_, p)| p.iter().map(|q| q.1));
    let (lo, hi) = ys.fold((f64::MAX, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let root = SVGBackend::new(path, (720, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!("{} — latency, ms (log scale)", outcome.label);
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.2f64..3.2f64, ((lo / 2.0)..(hi * 2.0)).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(4)
        .x_label_formatter(&|x| {
            let i = x.round() as usize;
            POINTS
                .get(i)
                .filter(|_| (x - i as f64).abs() < 0.01)
                .map_or(String::new(), |p| p.0.to_string())
        })
        .y_desc("ms")
        .y_label_formatter(&|y| format!("{y}"))
        .draw()?;
    for (i, (name, pts)) in lines.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
        chart.draw_series(pts.iter().map(|&(x, y)| {
            Text::new(
                format!("{y:.2}"),
                (x + 0.05, y),
                ("sans-serif", 12).into_font(),
            )
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
