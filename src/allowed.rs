//! The ranges numeric settings may take, shared by the flag parsers (below), the
//! validation of a loaded run.json (`train::config`) and of settings read from study files,
//! so that a rule and its wording live in one place.

use crate::models::MAX_WIDTH;

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

// Value parsers for numeric flags, with messages that say what is allowed.
fn number(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("{text} is not finite"))
    }
}

pub fn positive(text: &str) -> Result<f64, String> {
    number(text).and_then(|v| Allowed::Positive.check("", v))
}

pub fn non_negative(text: &str) -> Result<f64, String> {
    number(text).and_then(|v| Allowed::NonNegative.check("", v))
}

pub fn unit_interval(text: &str) -> Result<f64, String> {
    number(text).and_then(|v| Allowed::UnitInterval.check("", v))
}

pub fn width(text: &str) -> Result<f64, String> {
    number(text).and_then(|v| {
        if v > 0.0 && v <= MAX_WIDTH {
            Ok(v)
        } else {
            Err(format!("{v} must be in (0, {MAX_WIDTH}] (a multiplier of the published channel counts)"))
        }
    })
}

/// A whole number >= `MIN`, e.g. `--epochs` (1) or `--batch-size` (2).
pub fn whole_at_least<const MIN: u64>(text: &str) -> Result<u64, String> {
    let value: u64 = text.parse().map_err(|_| format!("{text:?} is not a whole number >= {MIN}"))?;
    if value >= MIN {
        Ok(value)
    } else {
        Err(format!("{value} must be >= {MIN}"))
    }
}

/// A whole number >= 0 that fits `usize` (epoch numbers such as `--milestones`).
pub fn whole(text: &str) -> Result<usize, String> {
    text.parse().map_err(|_| format!("{text:?} is not a whole number >= 0"))
}

#[cfg(test)]
mod tests {
    use super::Allowed::*;
    use super::*;

    #[test]
    fn bounds_and_wording() {
        assert!(Positive.admits(1e-30) && !Positive.admits(0.0) && !Positive.admits(f64::INFINITY));
        assert!(NonNegative.admits(0.0) && !NonNegative.admits(-1e-30) && !NonNegative.admits(f64::NAN));
        assert!(UnitInterval.admits(0.0) && UnitInterval.admits(1.0) && !UnitInterval.admits(1.5));
        assert_eq!(UnitInterval.check("gamma", 2.0), Err("gamma is 2, must be in [0, 1]".into()));
        assert_eq!(Positive.check("", -1.0), Err("-1 must be > 0".into()));
        assert_eq!(NonNegative.check("k", 0.0), Ok(0.0));
    }

    #[test]
    fn messages_say_what_is_allowed() {
        assert_eq!(whole_at_least::<2>("1"), Err("1 must be >= 2".into()));
        assert_eq!(whole_at_least::<1>("-3"), Err("\"-3\" is not a whole number >= 1".into()));
        assert_eq!(whole_at_least::<1>("7"), Ok(7));
        assert_eq!(whole("-5"), Err("\"-5\" is not a whole number >= 0".into()));
        assert_eq!(width("16"), Ok(16.0));
        assert!(width("1e9").unwrap_err().contains("(0, 16]"));
        assert!(width("0").unwrap_err().contains("(0, 16]"));
        assert_eq!(positive("inf"), Err("inf is not finite".into()));
    }
}
