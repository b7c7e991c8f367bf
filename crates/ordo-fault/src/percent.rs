//! The share of matching requests a fault touches.

/// A share from 0 to 100 per cent (fractions allowed).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(f64);

impl Percent {
    /// Every request.
    pub const ALL: Percent = Percent(100.0);

    /// `p` per cent, clamped to 0..=100 (NaN is 0).
    pub fn new(p: f64) -> Percent {
        Percent(if p.is_nan() { 0.0 } else { p.clamp(0.0, 100.0) })
    }

    /// The share in per cent.
    pub fn get(self) -> f64 {
        self.0
    }

    /// Whether a request with the uniform draw `u` (in `[0, 1)`) is in the
    /// share. 100 % takes every draw, 0 % none.
    #[inline]
    pub fn hit(self, u: f64) -> bool {
        u * 100.0 < self.0
    }

    /// Whether the share is every request (no draw needed).
    #[inline]
    pub fn is_all(self) -> bool {
        self.0 >= 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_at_the_edges() {
        assert!(Percent::ALL.hit(0.999_999));
        assert!(!Percent::new(0.0).hit(0.0));
        assert!(Percent::new(25.0).hit(0.2499));
        assert!(!Percent::new(25.0).hit(0.25));
        assert_eq!(Percent::new(250.0), Percent::ALL);
        assert_eq!(Percent::new(f64::NAN).get(), 0.0);
    }
}
