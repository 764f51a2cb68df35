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

/// Exact below this many microseconds; above it, 1,024 buckets per power of two.
const LINEAR: u64 = 2048;
const SUB_BITS: u32 = 10;

/// A log-linear histogram of microsecond latencies: exact to 2 ms, then within 0.1%,
/// in constant memory however many samples a blast produces. Count, sum and max exact.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    sum: u64,
    max: u64,
}

fn bucket_of(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let e = 63 - us.leading_zeros();
    let sub = (us >> (e - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    (LINEAR + ((e - 11) as u64) * (1 << SUB_BITS) + sub) as usize
}

/// The smallest value that falls in bucket `b`.
fn floor_of(b: usize) -> u64 {
    let b = b as u64;
    if b < LINEAR {
        return b;
    }
    let (octave, sub) = (
        (b - LINEAR) >> SUB_BITS,
        (b - LINEAR) & ((1 << SUB_BITS) - 1),
    );
    let e = octave + 11;
    (1 << e) | (sub << (e - SUB_BITS as u64))
}

impl Histogram {
    pub fn record(&mut self, us: u64) {
        let b = bucket_of(us);
        if b >= self.buckets.len() {
            self.buckets.resize(b + 1, 0);
        }
        self.buckets[b] += 1;
        self.count += 1;
        self.sum += us;
        self.max = self.max.max(us);
    }

    pub fn merge(&mut self, other: &Histogram) {
        if other.buckets.len() > self.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Nearest-rank percentile `q` (0..=100) in microseconds (the bucket's floor, the
    /// exact maximum for 100).
    pub fn percentile_us(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = (((q / 100.0) * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (b, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return floor_of(b).min(self.max);
            }
        }
        self.max
    }

    pub fn latency(&self) -> Latency {
        let ms = |q: f64| self.percentile_us(q) as f64 / 1000.0;
        Latency {
            samples: self.count as usize,
            p50_ms: ms(50.0),
            p90_ms: ms(90.0),
            p99_ms: ms(99.0),
            max_ms: self.max as f64 / 1000.0,
            mean_ms: if self.count == 0 {
                0.0
            } else {
                self.sum as f64 / self.count as f64 / 1000.0
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

    #[test]
    fn histogram_is_exact_low_and_within_a_thousandth_high() {
        let mut h = Histogram::default();
        for us in 1..=100u64 {
            h.record(us);
        }
        assert_eq!(h.percentile_us(50.0), 50);
        assert_eq!(h.percentile_us(99.0), 99);
        assert_eq!(h.latency().max_ms, 0.1);
        let mut big = Histogram::default();
        for us in [5_000u64, 123_456, 9_999_999] {
            big.record(us);
            let got = big.percentile_us(100.0 * big.count() as f64 / 3.0);
            assert!(
                got <= us && got as f64 >= us as f64 * 0.999,
                "{us} -> {got}"
            );
        }
        for v in [2048u64, 4095, 4096, 1 << 20, (1 << 20) + 1234] {
            assert_eq!(
                floor_of(bucket_of(v)),
                v - v % (1 << (63 - v.leading_zeros()).saturating_sub(10)).max(1)
            );
        }
        h.merge(&big);
        assert_eq!(h.count(), 103);
        assert_eq!(h.latency().max_ms, 9999.999);
    }
}
