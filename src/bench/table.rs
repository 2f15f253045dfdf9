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
    } else {
        format!("{value:.2}")
    }
}

/// Milliseconds from seconds.
pub fn ms(seconds: f64) -> String {
    figure(seconds * 1e3)
}
