//! Latency statistics: the nearest-rank percentile of sorted samples and the median of unsorted
//! ones. Samples of any ordered kind are summed up alike: milliseconds as `f64`, microseconds as
//! `u32`, start times as `u64`.

/// The nearest-rank percentile `q` (in 0..=1) of samples sorted ascending; the default (0) when
/// there are none.
pub fn percentile<T: Copy + Default>(sorted: &[T], q: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The middle sample (the upper one of an even count), in any order; the default (0) when there
/// are none.
pub fn median<T: Copy + Default + PartialOrd>(samples: &[T]) -> T {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 0.50), 50.0);
        assert_eq!(percentile(&samples, 0.99), 99.0);
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
        assert_eq!(percentile::<f64>(&[], 0.5), 0.0);
        let micros: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentile(&micros, 0.99), 99_000);
        assert_eq!(percentile::<u32>(&[], 0.5), 0);
    }

    #[test]
    fn the_median_of_three_starts_is_the_middle_one() {
        assert_eq!(median(&[300u64, 100, 200]), 200);
        assert_eq!(median(&[5u64]), 5);
        assert_eq!(median::<u64>(&[]), 0);
        assert_eq!(median(&[2.5, 0.5, 1.5, 9.0]), 2.5);
    }
}
