//! A per-site assignment of alphas (`sturdy export --site-alphas FILE`): a JSON object
//! `{ "site name": alpha, ... }`, as `sturdy sweep --per-site-alpha` writes it
//! (`<run>.site-alphas.json`). Sites it does not name keep the export's `--alpha`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};

use crate::poly::degrees::ALPHAS;

/// Site name to alpha, as read from a file (checked against the network by [`resolve`]).
pub type Assignment = BTreeMap<String, u32>;

pub fn read(path: &Path) -> anyhow::Result<Assignment> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: expected a JSON object of site names to alphas", path.display()))
}

/// The alpha of each of `sites` (in order): its own from `assignment`, else `default`.
/// Every name must be a site and every alpha in 4..=20; the error names each that is not.
pub fn resolve(assignment: &Assignment, sites: &[String], default: u32, origin: &str) -> anyhow::Result<Vec<u32>> {
    let mut problems = Vec::new();
    for (name, alpha) in assignment {
        if !sites.contains(name) {
            problems.push(format!("unknown site {name:?}"));
        }
        if !ALPHAS.contains(alpha) {
            problems.push(format!("site {name:?} has alpha {alpha}, outside {}..={}", ALPHAS.start(), ALPHAS.end()));
        }
    }
    if !problems.is_empty() {
        bail!("{origin}: {} (the network's sites: {})", problems.join("; "), sites.join(", "));
    }
    Ok(sites.iter().map(|name| assignment.get(name).copied().unwrap_or(default)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites() -> Vec<String> {
        vec!["stem.relu".into(), "block0.relu1".into()]
    }

    #[test]
    fn named_sites_take_their_alpha_the_others_the_default() {
        let assignment = Assignment::from([("block0.relu1".into(), 5)]);
        assert_eq!(resolve(&assignment, &sites(), 9, "f.json").unwrap(), vec![9, 5]);
    }

    #[test]
    fn unknown_sites_and_alphas_out_of_range_are_named() {
        let assignment = Assignment::from([("stem.relu".into(), 3), ("fc.relu".into(), 21)]);
        let error = resolve(&assignment, &sites(), 9, "f.json").unwrap_err().to_string();
        for needle in
            ["f.json", "unknown site \"fc.relu\"", "\"fc.relu\" has alpha 21", "\"stem.relu\" has alpha 3", "4..=20"]
        {
            assert!(error.contains(needle), "{needle:?} not in {error}");
        }
    }
}
