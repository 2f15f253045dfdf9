//! Value parsers for numeric flags, with messages that say what is allowed.

fn number(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("{text} is not finite"))
    }
}

pub fn positive(text: &str) -> Result<f64, String> {
    number(text).and_then(|v| if v > 0.0 { Ok(v) } else { Err(format!("{v} must be > 0")) })
}

pub fn non_negative(text: &str) -> Result<f64, String> {
    number(text).and_then(|v| if v >= 0.0 { Ok(v) } else { Err(format!("{v} must be >= 0")) })
}

pub fn unit_interval(text: &str) -> Result<f64, String> {
    number(text).and_then(|v| if (0.0..=1.0).contains(&v) { Ok(v) } else { Err(format!("{v} must be in [0, 1]")) })
}
