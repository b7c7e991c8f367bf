//! How long an injected delay lasts.

use std::time::Duration;

/// The longest delay ever injected: a drawn delay is cut off here.
pub(crate) const MAX: Duration = Duration::from_secs(3600);

/// A delay: fixed, or drawn anew for each request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delay {
    /// Always this long.
    Fixed(Duration),
    /// Uniformly between the two.
    Uniform(Duration, Duration),
    /// Normally distributed: mean and standard deviation (cut off at zero).
    Normal(Duration, Duration),
    /// Log-normally distributed: the median, and the standard deviation of
    /// the logarithm.
    LogNormal(Duration, f64),
}

impl Delay {
    /// A delay drawn with `uniform`, a source of independent draws in
    /// `[0, 1)`. Never negative, never more than an hour.
    pub fn sample(&self, uniform: &mut impl FnMut() -> f64) -> Duration {
        let secs = match *self {
            Delay::Fixed(d) => return d.min(MAX),
            Delay::Uniform(min, max) => {
                let (a, b) = (min.as_secs_f64(), max.as_secs_f64());
                a + (b - a) * uniform()
            }
            Delay::Normal(mean, stddev) => {
                mean.as_secs_f64() + stddev.as_secs_f64() * gauss(uniform)
            }
            Delay::LogNormal(median, sigma) => {
                median.as_secs_f64() * (sigma * gauss(uniform)).exp()
            }
        };
        if secs.is_nan() || secs <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(secs.min(MAX.as_secs_f64()))
        }
    }
}

/// A standard normal draw (Box–Muller) from two uniform ones.
fn gauss(uniform: &mut impl FnMut() -> f64) -> f64 {
    // 1 - u is in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - uniform();
    let u2 = uniform();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64 draws, for repeatable samples.
    fn draws(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
        }
    }

    fn stats(d: Delay, n: usize) -> (f64, f64, Vec<f64>) {
        let mut u = draws(7);
        let mut xs: Vec<f64> = (0..n)
            .map(|_| d.sample(&mut u).as_secs_f64() * 1e3)
            .collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        xs.sort_by(f64::total_cmp);
        (mean, var.sqrt(), xs)
    }

    #[test]
    fn fixed_is_fixed() {
        let d = Delay::Fixed(Duration::from_millis(250));
        assert_eq!(d.sample(&mut || 0.5), Duration::from_millis(250));
    }

    #[test]
    fn uniform_spans_its_range_evenly() {
        let (mean, _, xs) = stats(
            Delay::Uniform(Duration::from_millis(100), Duration::from_millis(300)),
            20_000,
        );
        assert!((mean - 200.0).abs() < 2.0, "{mean}");
        assert!(xs[0] >= 100.0 && xs[xs.len() - 1] <= 300.0);
    }

    #[test]
    fn normal_has_its_mean_and_spread_and_no_negative_delays() {
        let (mean, sd, _) = stats(
            Delay::Normal(Duration::from_millis(200), Duration::from_millis(20)),
            20_000,
        );
        assert!((mean - 200.0).abs() < 1.0, "{mean}");
        assert!((sd - 20.0).abs() < 1.0, "{sd}");
        let (_, _, xs) = stats(
            Delay::Normal(Duration::from_millis(1), Duration::from_millis(10)),
            1000,
        );
        assert!(xs[0] >= 0.0);
    }

    #[test]
    fn lognormal_has_its_median_and_a_long_tail() {
        let (mean, _, xs) = stats(Delay::LogNormal(Duration::from_millis(100), 0.5), 20_000);
        let median = xs[xs.len() / 2];
        assert!((median - 100.0).abs() < 3.0, "{median}");
        // The mean of a log-normal is median * e^(sigma^2 / 2).
        assert!((mean - 100.0 * (0.125f64).exp()).abs() < 3.0, "{mean}");
        assert!(xs[xs.len() * 999 / 1000] > 4.0 * median);
    }

    #[test]
    fn draws_are_cut_off_at_the_maximum() {
        let d = Delay::LogNormal(Duration::from_secs(3000), 5.0);
        let mut u = draws(1);
        assert!((0..1000).all(|_| d.sample(&mut u) <= MAX));
    }
}
