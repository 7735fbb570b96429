//! Median, 90th percentile and maximum of a set of durations.

use std::time::Duration;

/// A summary of measured durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub median: Duration,
    pub p90: Duration,
    pub max: Duration,
}

impl Summary {
    /// Summarises `values` (nearest-rank percentiles); all zero when empty.
    pub fn of(mut values: Vec<Duration>) -> Summary {
        if values.is_empty() {
            return Summary {
                median: Duration::ZERO,
                p90: Duration::ZERO,
                max: Duration::ZERO,
            };
        }
        values.sort();
        let rank = |p: usize| values[(values.len() * p).div_ceil(100).max(1) - 1];
        Summary {
            median: rank(50),
            p90: rank(90),
            max: values[values.len() - 1],
        }
    }

    pub fn median_us(&self) -> String {
        micros(self.median)
    }

    pub fn p90_us(&self) -> String {
        micros(self.p90)
    }

    pub fn max_us(&self) -> String {
        micros(self.max)
    }
}

/// "1234 µs".
pub fn micros(d: Duration) -> String {
    format!("{} µs", d.as_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<Duration> = (1..=10).rev().map(Duration::from_millis).collect();
        let s = Summary::of(values);
        assert_eq!(s.median, Duration::from_millis(5));
        assert_eq!(s.p90, Duration::from_millis(9));
        assert_eq!(s.max, Duration::from_millis(10));
        assert_eq!(
            Summary::of(vec![Duration::from_micros(7)]).median_us(),
            "7 µs"
        );
        assert_eq!(Summary::of(Vec::new()).max, Duration::ZERO);
    }
}
