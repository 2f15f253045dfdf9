//! The study's summary, built from the cells' result files alone: one row per (recipe,
//! weight decay, noise variant) with backbone and PANN accuracy per alpha, seeds aggregated as mean ± std;
//! written as summary.txt, .csv, .json and an SVG plot (`pann::report::svg`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::cell::{weight_decay_label, Cell, NoiseVariant};
use super::execute::{cell_state, load_result, CellResult, CellState};
use super::spec::{cells, Study};
use crate::pann::report;
use crate::pann::sweep::{AlphaRow, CheckpointSweep, PerSiteResult};
use crate::train::recipe::Recipe;

/// Mean and sample standard deviation (n - 1; none for a single value) of accuracies.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub std: Option<f64>,
    pub n: usize,
}

impl Stat {
    fn of(values: &[f64]) -> Option<Stat> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = (n > 1).then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
        Some(Stat { mean, std, n })
    }

    /// In percent: `85.21`, or `85.21 ± 0.40` over several seeds.
    fn percent(&self) -> String {
        match self.std {
            None => format!("{:.2}", 100.0 * self.mean),
            Some(std) => format!("{:.2} ± {:.2}", 100.0 * self.mean, 100.0 * std),
        }
    }
}

/// A PANN's test accuracy at one alpha without clamping (what encryption computes: an
/// image whose inputs exceed a bound anywhere counts as a failure).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlphaStat {
    pub alpha: u32,
    pub accuracy: Option<Stat>,
}

/// One (recipe, weight decay, noise variant): its finished seeds aggregated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupRow {
    pub group: String,
    pub recipe: Recipe,
    pub weight_decay: f64,
    pub noise: NoiseVariant,
    /// Seeds with a result, of `seeds_planned`.
    pub seeds: Vec<u64>,
    pub seeds_planned: usize,
    pub backbone: Stat,
    pub pann: Vec<AlphaStat>,
    /// The alpha of fewest multiplications whose mean accuracy is within the tolerance of
    /// the mean backbone accuracy.
    pub cheapest_within_tolerance: Option<u32>,
    /// The per-site searches of its seeds, where the sweep ran them.
    pub per_site: Option<PerSiteStat>,
}

/// The per-site searches of one group's seeds (`[sweep] per_site_alpha`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerSiteStat {
    /// Each seed's cheapest uniform alpha within tolerance on its validation split.
    pub uniform_alphas: Vec<Option<u32>>,
    pub uniform_cost: Stat,
    pub cost: Stat,
    /// 1 - cost / uniform cost.
    pub saving: Stat,
    pub validation_accuracy: Stat,
    /// On the test set, without clamping (as encrypted), as the table's PANN columns.
    pub test_accuracy: Stat,
    /// Each seed's assignment, in site order.
    pub assignments: Vec<Vec<u32>>,
}

impl PerSiteStat {
    fn of(results: &[CellResult]) -> Option<PerSiteStat> {
        Self::of_searches(&results.iter().filter_map(|r| r.sweep.per_site.as_ref()).collect::<Vec<_>>())
    }

    fn of_searches(searches: &[&PerSiteResult]) -> Option<PerSiteStat> {
        let stat = |f: &dyn Fn(&PerSiteResult) -> f64| Stat::of(&searches.iter().map(|s| f(s)).collect::<Vec<_>>());
        Some(PerSiteStat {
            uniform_alphas: searches.iter().map(|s| s.search.uniform_alpha).collect(),
            uniform_cost: stat(&|s| s.search.uniform_cost)?,
            cost: stat(&|s| s.search.cost)?,
            saving: stat(&|s| 1.0 - s.search.cost / s.search.uniform_cost)?,
            validation_accuracy: stat(&|s| s.search.validation_accuracy)?,
            test_accuracy: stat(&|s| s.test_no_clamp_accuracy)?,
            assignments: searches.iter().map(|s| s.search.alphas()).collect(),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MissingCell {
    pub id: String,
    /// "not started", "training: epoch 2 of 4 finished", ...
    pub state: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub study: String,
    pub alphas: Vec<u32>,
    pub tolerance: f64,
    pub cells_finished: usize,
    pub cells_planned: usize,
    pub rows: Vec<GroupRow>,
    pub missing: Vec<MissingCell>,
    pub cells: Vec<CellResult>,
}

/// Reads every cell's result; cells without one are listed as missing, with where they stand.
pub fn collect(study: &Study) -> anyhow::Result<Summary> {
    let planned = cells(&study.spec);
    let alphas = study.spec.sweep.alphas.clone();
    let mut groups: Vec<(String, Cell, usize, Vec<CellResult>)> = Vec::new();
    let mut missing = Vec::new();
    let mut results = Vec::new();
    for cell in &planned {
        let group = cell.group();
        let index = match groups.iter().position(|g| g.0 == group) {
            Some(i) => i,
            None => {
                groups.push((group, *cell, 0, Vec::new()));
                groups.len() - 1
            }
        };
        groups[index].2 += 1;
        match load_result(&study.dir, &cell.id())? {
            Some(result) => {
                groups[index].3.push(result.clone());
                results.push(result);
            }
            None => {
                let state = match cell_state(study, cell)? {
                    CellState::NotStarted => "not started".to_string(),
                    CellState::Training { finished, epochs } if finished >= epochs => "trained, not swept".into(),
                    CellState::Training { finished, epochs } => format!("training: {finished} of {epochs} epochs"),
                    CellState::Finished => "result unreadable".into(),
                };
                missing.push(MissingCell { id: cell.id(), state });
            }
        }
    }
    let rows = groups
        .into_iter()
        .filter_map(|(group, cell, seeds_planned, results)| {
            let backbone = Stat::of(&results.iter().map(|r| r.sweep.backbone_accuracy).collect::<Vec<_>>())?;
            let rows_at =
                |alpha: u32| results.iter().filter_map(move |r| r.sweep.rows.iter().find(|x| x.alpha == alpha));
            let pann: Vec<AlphaStat> = alphas
                .iter()
                .map(|&alpha| AlphaStat {
                    alpha,
                    accuracy: Stat::of(&rows_at(alpha).map(|x| x.no_clamp_accuracy).collect::<Vec<_>>()),
                })
                .collect();
            let tolerance = study.spec.sweep.tolerance;
            let cheapest_within_tolerance = pann
                .iter()
                .filter(|a| a.accuracy.is_some_and(|s| s.mean >= backbone.mean - tolerance))
                .filter_map(|a| rows_at(a.alpha).next().map(|row| (row.mults, a.alpha)))
                .min()
                .map(|(_, alpha)| alpha);
            Some(GroupRow {
                group,
                recipe: cell.recipe,
                weight_decay: cell.weight_decay,
                noise: cell.noise,
                seeds: results.iter().map(|r| r.seed).collect(),
                seeds_planned,
                backbone,
                pann,
                cheapest_within_tolerance,
                per_site: PerSiteStat::of(&results),
            })
        })
        .collect();
    Ok(Summary {
        study: study.name.clone(),
        alphas,
        tolerance: study.spec.sweep.tolerance,
        cells_finished: results.len(),
        cells_planned: planned.len(),
        rows,
        missing,
        cells: results,
    })
}

/// The aligned table: test accuracy in percent, one row per (recipe, weight decay, noise
/// variant); the noise column only where some row has a variant.
pub fn table(summary: &Summary) -> String {
    let noise_column = summary.rows.iter().any(|row| row.noise != NoiseVariant::default());
    let labels = if noise_column { 3 } else { 2 };
    let mut header = vec!["recipe".to_string(), "weight decay".into()];
    if noise_column {
        header.push("noise".into());
    }
    header.extend(["seeds".into(), "backbone".into()]);
    header.extend(summary.alphas.iter().map(|a| format!("alpha {a}")));
    header.push("cheapest alpha".into());
    let mut lines = vec![header];
    for row in &summary.rows {
        let mut line = vec![row.recipe.to_string(), weight_decay_label(row.weight_decay)];
        if noise_column {
            line.push(row.noise.label());
        }
        line.extend([format!("{}/{}", row.seeds.len(), row.seeds_planned), row.backbone.percent()]);
        line.extend(row.pann.iter().map(|a| a.accuracy.map_or_else(|| "-".into(), |s| s.percent())));
        line.push(row.cheapest_within_tolerance.map_or_else(|| "none".into(), |a| a.to_string()));
        lines.push(line);
    }
    let columns = lines[0].len();
    let widths: Vec<usize> =
        (0..columns).map(|c| lines.iter().map(|l| l[c].chars().count()).max().unwrap_or(0)).collect();
    let mut text = format!(
        "study {}: {} of {} cells finished; test accuracy %, mean ± std over seeds where several, PANNs \
         without clamping (as encrypted); cheapest alpha: fewest multiplications within {} percentage \
         points of the backbone\n",
        summary.study,
        summary.cells_finished,
        summary.cells_planned,
        100.0 * summary.tolerance
    );
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| {
                let pad = " ".repeat(w - cell.chars().count());
                if c < labels {
                    format!("{cell}{pad}")
                } else {
                    format!("{pad}{cell}")
                }
            })
            .collect();
        let _ = writeln!(text, "{}", cells.join("  ").trim_end());
    }
    text += &per_site_table(summary);
    if !summary.missing.is_empty() {
        let _ = writeln!(text, "missing {} cells:", summary.missing.len());
        for cell in &summary.missing {
            let _ = writeln!(text, "  {} ({})", cell.id, cell.state);
        }
    }
    text
}

/// The per-site searches, one line per group that ran them (none: empty).
fn per_site_table(summary: &Summary) -> String {
    let mut text = String::new();
    for row in &summary.rows {
        let Some(p) = &row.per_site else { continue };
        if text.is_empty() {
            text += "per-site alphas (selected on held-out training images; cost in multiplications x evaluations):\n";
        }
        let uniform: Vec<String> =
            p.uniform_alphas.iter().map(|a| a.map_or_else(|| "none".into(), |a| a.to_string())).collect();
        let assignments: Vec<String> = p.assignments.iter().map(|a| format!("{a:?}")).collect();
        let _ = writeln!(
            text,
            "  {} {}: uniform alpha {} cost {:.0}; per-site {} cost {:.0} ({} % cheaper), validation {} %, test {} %",
            row.recipe,
            weight_decay_label(row.weight_decay),
            uniform.join("/"),
            p.uniform_cost.mean,
            assignments.join(" / "),
            p.cost.mean,
            p.saving.percent(),
            p.validation_accuracy.percent(),
            p.test_accuracy.percent()
        );
    }
    text
}

/// One line per (recipe, weight decay, noise variant, alpha); alpha is empty on the
/// backbone's line, noise on rows without a variant.
pub fn csv(summary: &Summary) -> String {
    let mut text = String::from("recipe,weight_decay,noise,seeds,seeds_planned,alpha,accuracy_mean,accuracy_std\n");
    for row in &summary.rows {
        let prefix = format!(
            "{},{},{},{},{}",
            row.recipe,
            row.weight_decay,
            row.noise.label(),
            row.seeds.len(),
            row.seeds_planned
        );
        let std = |s: &Stat| s.std.map_or_else(String::new, |v| v.to_string());
        let _ = writeln!(text, "{prefix},,{},{}", row.backbone.mean, std(&row.backbone));
        for a in &row.pann {
            if let Some(s) = &a.accuracy {
                let _ = writeln!(text, "{prefix},{},{},{}", a.alpha, s.mean, std(s));
            }
        }
    }
    text
}

/// The mean curves as sweeps, for `pann::report::svg`: one line per row of the table.
pub fn svg(summary: &Summary) -> String {
    let sweeps: Vec<CheckpointSweep> = summary
        .rows
        .iter()
        .map(|row| {
            let cost_of =
                |alpha: u32| summary.cells.iter().find_map(|c| c.sweep.rows.iter().find(|r| r.alpha == alpha)).cloned();
            let rows = row
                .pann
                .iter()
                .filter_map(|a| Some(AlphaRow { accuracy: a.accuracy?.mean, ..cost_of(a.alpha)? }))
                .collect();
            CheckpointSweep {
                checkpoint: PathBuf::from(&row.group),
                backbone_accuracy: row.backbone.mean,
                bounds: Vec::new(),
                rows,
                cheapest_within_tolerance: row.cheapest_within_tolerance,
                shortfall: None,
                per_site: None,
            }
        })
        .collect();
    report::svg(&sweeps)
}

/// Writes summary.txt, .csv, .json, .svg and .png into the study folder.
pub fn write_all(dir: &Path, summary: &Summary) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(summary)?;
    report::write_report(dir, "summary", table(summary), csv(summary), json, svg(summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_mean_and_sample_deviation() {
        let s = Stat::of(&[0.8, 0.9]).unwrap();
        assert!((s.mean - 0.85).abs() < 1e-12);
        assert!((s.std.unwrap() - (0.005f64).sqrt()).abs() < 1e-12);
        assert_eq!(s.percent(), "85.00 ± 7.07");
        assert_eq!(Stat::of(&[0.5]).unwrap().percent(), "50.00");
        assert!(Stat::of(&[]).is_none());
    }

    /// A search whose assignment scores 0.8 on the test set clamped and 0.7 without clamping.
    fn per_site_result() -> PerSiteResult {
        use crate::pann::per_site::Search;
        let search = Search {
            pricing: crate::pann::pricing::SiteCost::Mults,
            validation_images: 10,
            validation_backbone_accuracy: 0.9,
            uniform_validation: vec![(7, 0.9)],
            uniform_alpha: Some(7),
            uniform_cost: 100.0,
            sites: Vec::new(),
            cost: 80.0,
            validation_accuracy: 0.85,
            passes: 1,
            trace: Vec::new(),
        };
        PerSiteResult {
            search,
            calibration_overlap: 0,
            test_accuracy: 0.8,
            test_no_clamp_accuracy: 0.7,
            test_agreement: 0.9,
            test_overflows: 3,
            test_overflowing_images: 2,
        }
    }

    /// The summary's per-site test figure is the no-clamp one, as its PANN columns are: the
    /// clamped one is what encryption cannot compute.
    #[test]
    fn per_site_test_accuracy_is_without_clamping() {
        let result = per_site_result();
        let stat = PerSiteStat::of_searches(&[&result]).unwrap();
        assert_eq!(stat.test_accuracy.mean, result.test_no_clamp_accuracy);
        assert!((stat.saving.mean - 0.2).abs() < 1e-12);
    }
}
