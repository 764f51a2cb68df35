//! Latency percentiles (nearest rank) and the small numeric helpers the scenarios share.

use serde::Serialize;

/// A latency distribution in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// The nearest-rank percentile `q` (0..=100) of sorted samples: the smallest sample with
/// at least q% of the samples at or below it. None for no samples.
pub fn percentile(sorted: &[u32], q: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

impl Latency {
    /// Summarises latencies given in microseconds (sorts them in place).
    pub fn from_micros(samples: &mut [u32]) -> Latency {
        samples.sort_unstable();
        let ms = |q: f64| percentile(samples, q).map_or(0.0, |us| us as f64 / 1000.0);
        let sum: u64 = samples.iter().map(|&s| s as u64).sum();
        Latency {
            samples: samples.len(),
            p50_ms: ms(50.0),
            p90_ms: ms(90.0),
            p99_ms: ms(99.0),
            max_ms: ms(100.0),
            mean_ms: if samples.is_empty() {
                0.0
            } else {
                sum as f64 / samples.len() as f64 / 1000.0
            },
        }
    }
}

/// `a / b`, or 0 when `b` is 0.
pub fn per_sec(count: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 90.0), Some(90));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        // Ten samples: p99 is the largest, p50 the fifth.
        let v: Vec<u32> = (1..=10).collect();
        assert_eq!(percentile(&v, 99.0), Some(10));
        assert_eq!(percentile(&v, 50.0), Some(5));
    }

    #[test]
    fn summary_sorts_and_converts_to_ms() {
        let mut v = vec![3000, 1000, 2000, 4000];
        let l = Latency::from_micros(&mut v);
        assert_eq!(l.samples, 4);
        assert_eq!(l.p50_ms, 2.0);
        assert_eq!(l.max_ms, 4.0);
        assert_eq!(l.mean_ms, 2.5);
        assert_eq!(Latency::from_micros(&mut []).samples, 0);
    }
}
