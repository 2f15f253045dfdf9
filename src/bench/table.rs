//! One markdown table of benchmark results.

/// A titled table with free-text notes under it.
pub struct Table {
    pub title: String,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    pub notes: Vec<String>,
}

impl Table {
    pub fn new(title: impl Into<String>, header: &[&'static str]) -> Table {
        Table { title: title.into(), header: header.to_vec(), rows: Vec::new(), notes: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len(), "{}: one cell per column", self.title);
        self.rows.push(cells);
    }

    pub fn markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let header: Vec<String> = self.header.iter().map(|h| h.to_string()).collect();
        let mut text = format!("### {}\n\n", self.title);
        text += &line(&header);
        text += &line(&vec!["---".to_string(); header.len()]);
        for row in &self.rows {
            text += &line(row);
        }
        for note in &self.notes {
            text += &format!("\n{note}\n");
        }
        text
    }
}

/// A figure with three significant digits (or the integer part when larger).
pub fn figure(value: f64) -> String {
    if !value.is_finite() {
        "n/a".into()
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else if value >= 1.0 || value <= 0.0 {
        format!("{value:.2}")
    } else {
        // Two significant digits, so that a slow figure never reads as 0.00.
        let decimals = (1.0 - value.log10().floor()) as usize;
        format!("{value:.decimals$}")
    }
}

/// Milliseconds from seconds.
pub fn ms(seconds: f64) -> String {
    figure(seconds * 1e3)
}

#[cfg(test)]
mod tests {
    use super::figure;

    #[test]
    fn figures_keep_two_significant_digits_below_one() {
        assert_eq!(figure(1234.6), "1235");
        assert_eq!(figure(12.34), "12.3");
        assert_eq!(figure(1.234), "1.23");
        assert_eq!(figure(0.1234), "0.12");
        assert_eq!(figure(0.004213), "0.0042");
        assert_eq!(figure(0.0), "0.00");
        assert_eq!(figure(f64::NAN), "n/a");
    }
}
