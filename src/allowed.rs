//! The ranges numeric settings may take, shared by the flag parsers (`cli::parse`), the
//! validation of a loaded run.json (`train::config`) and study files (`study::spec`), so
//! that a rule and its wording live in one place.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowed {
    /// Finite and > 0.
    Positive,
    /// Finite and >= 0.
    NonNegative,
    /// In [0, 1].
    UnitInterval,
}

impl Allowed {
    pub fn admits(self, value: f64) -> bool {
        value.is_finite()
            && match self {
                Allowed::Positive => value > 0.0,
                Allowed::NonNegative => value >= 0.0,
                Allowed::UnitInterval => (0.0..=1.0).contains(&value),
            }
    }

    /// What is allowed, completing "must be ...".
    pub fn describe(self) -> &'static str {
        match self {
            Allowed::Positive => "> 0",
            Allowed::NonNegative => ">= 0",
            Allowed::UnitInterval => "in [0, 1]",
        }
    }

    /// `value`, or "`what` is `value`, must be ..." (`what` may be empty).
    pub fn check(self, what: &str, value: f64) -> Result<f64, String> {
        if self.admits(value) {
            Ok(value)
        } else if what.is_empty() {
            Err(format!("{value} must be {}", self.describe()))
        } else {
            Err(format!("{what} is {value}, must be {}", self.describe()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Allowed::*;

    #[test]
    fn bounds_and_wording() {
        assert!(Positive.admits(1e-30) && !Positive.admits(0.0) && !Positive.admits(f64::INFINITY));
        assert!(NonNegative.admits(0.0) && !NonNegative.admits(-1e-30) && !NonNegative.admits(f64::NAN));
        assert!(UnitInterval.admits(0.0) && UnitInterval.admits(1.0) && !UnitInterval.admits(1.5));
        assert_eq!(UnitInterval.check("gamma", 2.0), Err("gamma is 2, must be in [0, 1]".into()));
        assert_eq!(Positive.check("", -1.0), Err("-1 must be > 0".into()));
        assert_eq!(NonNegative.check("k", 0.0), Ok(0.0));
    }
}
