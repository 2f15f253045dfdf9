//! The per-site precision search: from the cheapest uniform alpha within tolerance, a
//! greedy descent to the cheapest assignment of one alpha per site that keeps the PANN's
//! accuracy within the tolerance of the backbone's, all measured on held-out *training*
//! images (the validation split). The test set plays no part: [`search`] never sees it.
//!
//! Each round probes every site that can step down ([`SiteCost::step_down`]) by one PANN
//! pass over the validation images with only that site lowered, then keeps the probe that
//! costs the least accuracy per unit of cost saved among those still within tolerance, and
//! repeats until no probe is, no site can step down or `max_probes` probes are spent. A run
//! takes one exact pass (the backbone), one PANN pass per uniform alpha, and one per probe:
//! [`Search::passes`] counts the PANN passes.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::no_clamp;
use super::pricing::{site_evaluations, SiteCost};
use super::Pann;
use crate::data::{Dataset, Normalization};
use crate::evaluation::Evaluator;
use crate::nn::{Mode, SiteKind};
use crate::poly::degrees::ALPHAS;

/// What the search selects on and how.
pub struct SearchOptions<'a> {
    /// Held-out training images, and the normalisation of the run.
    pub validation: &'a Arc<Dataset>,
    pub normalization: &'a Normalization,
    /// The uniform alphas the start is chosen from.
    pub alphas: &'a [u32],
    /// Accuracy drop (a fraction) that still counts as holding.
    pub tolerance: f64,
    pub pricing: SiteCost,
    /// At most this many probes in the descent.
    pub max_probes: usize,
}

/// One site of the assignment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiteAlpha {
    pub name: String,
    pub kind: SiteKind,
    /// Polynomial evaluations per image ([`site_evaluations`]).
    pub evaluations: usize,
    pub alpha: u32,
    /// Its cost at `alpha` under the search's pricing.
    pub cost: f64,
    /// Validation accuracy lost (a fraction; negative: gained) by stepping this site alone
    /// down one step from the uniform start; None where it cannot step down.
    pub sensitivity: Option<f64>,
}

/// One probe of the descent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub round: usize,
    pub site: String,
    pub from: u32,
    pub to: u32,
    pub validation_accuracy: f64,
    pub cost_saved: f64,
    /// The probe the round kept.
    pub kept: bool,
}

/// The search's result, on the validation split only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Search {
    pub pricing: SiteCost,
    pub validation_images: usize,
    pub validation_backbone_accuracy: f64,
    /// (alpha, validation accuracy) of every uniform alpha tried.
    pub uniform_validation: Vec<(u32, f64)>,
    /// The cheapest uniform alpha within tolerance on the validation split, where the
    /// search started; None if there is none (then it started at the most precise alpha
    /// tried, and could lower nothing).
    pub uniform_alpha: Option<u32>,
    /// Total cost of the start.
    pub uniform_cost: f64,
    pub sites: Vec<SiteAlpha>,
    /// Total cost of the assignment.
    pub cost: f64,
    pub validation_accuracy: f64,
    /// PANN passes over the validation images: the uniform alphas, then the probes.
    pub passes: usize,
    pub trace: Vec<Probe>,
}

impl Search {
    /// The assignment, in site-index order.
    pub fn alphas(&self) -> Vec<u32> {
        self.sites.iter().map(|s| s.alpha).collect()
    }
}

/// The state of the descent.
struct Descent<'a, 'e> {
    pann: &'a Pann<'e>,
    evaluator: &'a Evaluator<'e>,
    options: &'a SearchOptions<'a>,
    /// Evaluations per image of each site.
    sizes: Vec<usize>,
    passes: usize,
}

impl Descent<'_, '_> {
    /// Validation accuracy of the PANN with `alphas` as encryption gets it (no clamping):
    /// one pass.
    fn accuracy(&mut self, alphas: &[u32]) -> anyhow::Result<f64> {
        self.pann.set_alphas(alphas)?;
        self.passes += 1;
        let (validation, normalization) = (self.options.validation, self.options.normalization);
        let pass = no_clamp::evaluate(self.pann, self.evaluator, validation, normalization)?;
        Ok(pass.no_clamp_accuracy(&validation.labels))
    }

    fn cost(&self, alphas: &[u32]) -> anyhow::Result<f64> {
        alphas.iter().zip(&self.sizes).map(|(&alpha, &size)| self.options.pricing.of(alpha, size)).sum()
    }

    /// (alpha, validation accuracy) of every uniform alpha.
    fn uniform(&mut self) -> anyhow::Result<Vec<(u32, f64)>> {
        let sites = self.sizes.len();
        self.options.alphas.iter().map(|&alpha| Ok((alpha, self.accuracy(&vec![alpha; sites])?))).collect()
    }

    /// The cheapest of the `tried` uniform alphas whose accuracy is at least `floor`.
    fn cheapest_within(&self, tried: &[(u32, f64)], floor: f64) -> anyhow::Result<Option<(u32, f64)>> {
        let mut best: Option<(f64, u32, f64)> = None;
        for &(alpha, accuracy) in tried.iter().filter(|(_, accuracy)| *accuracy >= floor) {
            let cost = self.cost(&vec![alpha; self.sizes.len()])?;
            if best.is_none_or(|(c, a, _)| cost < c || (cost == c && alpha < a)) {
                best = Some((cost, alpha, accuracy));
            }
        }
        Ok(best.map(|(_, alpha, accuracy)| (alpha, accuracy)))
    }

    /// One round from `alphas`: every site that can step down, probed (while probes last).
    fn round(&mut self, round: usize, alphas: &[u32], names: &[String]) -> anyhow::Result<Vec<Probe>> {
        let mut probes = Vec::new();
        for site in 0..alphas.len() {
            if self.probes_left() == 0 {
                break;
            }
            let Some(lower) = self.options.pricing.step_down(alphas[site], ALPHAS)? else { continue };
            let mut trial = alphas.to_vec();
            trial[site] = lower;
            let cost_saved = self.cost(alphas)? - self.cost(&trial)?;
            let validation_accuracy = self.accuracy(&trial)?;
            let name = names[site].clone();
            let from = alphas[site];
            probes.push(Probe { round, site: name, from, to: lower, validation_accuracy, cost_saved, kept: false });
        }
        Ok(probes)
    }

    /// Probes the descent may still make (the first passes are the uniform alphas').
    fn probes_left(&self) -> usize {
        let probes = self.passes.saturating_sub(self.options.alphas.len());
        self.options.max_probes.saturating_sub(probes)
    }
}

/// The index of the probe to keep: within `floor`, least accuracy lost per cost saved
/// (ties: the larger saving, then the earlier site).
fn best(probes: &[Probe], current: f64, floor: f64) -> Option<usize> {
    let loss_per_cost = |p: &Probe| (current - p.validation_accuracy) / p.cost_saved;
    (0..probes.len()).filter(|&i| probes[i].validation_accuracy >= floor).min_by(|&a, &b| {
        let (pa, pb) = (&probes[a], &probes[b]);
        loss_per_cost(pa).total_cmp(&loss_per_cost(pb)).then(pb.cost_saved.total_cmp(&pa.cost_saved))
    })
}

/// Searches the cheapest per-site assignment within tolerance on `options.validation`
/// (module doc). The bounds must be set; leaves the PANN at the assignment found.
pub fn search(pann: &Pann, evaluator: &Evaluator, options: &SearchOptions) -> anyhow::Result<Search> {
    let sites = pann.sites();
    let names: Vec<String> = sites.iter().map(|s| s.name.clone()).collect();
    let sizes: Vec<usize> = sites.iter().map(|s| site_evaluations(s)).collect();
    let mut descent = Descent { pann, evaluator, options, sizes, passes: 0 };
    let backbone = evaluator.evaluate(options.validation, options.normalization, Mode::Eval)?.accuracy();
    let floor = backbone - options.tolerance;
    let uniform_validation = descent.uniform()?;
    let within = descent.cheapest_within(&uniform_validation, floor)?;
    let most_precise = uniform_validation.iter().max_by_key(|(alpha, _)| *alpha).copied();
    let (start, mut current) = within.or(most_precise).expect("the sweep's alphas are checked non-empty");
    let uniform_alpha = within.map(|(alpha, _)| alpha);
    let mut alphas = vec![start; sites.len()];
    let uniform_cost = descent.cost(&alphas)?;
    let start_accuracy = current;
    let mut trace = Vec::new();
    for round in 1.. {
        let mut probes = descent.round(round, &alphas, &names)?;
        let kept = best(&probes, current, floor);
        if let Some(k) = kept {
            probes[k].kept = true;
            let site = names.iter().position(|n| *n == probes[k].site).expect("probes name sites");
            alphas[site] = probes[k].to;
            current = probes[k].validation_accuracy;
            eprintln!(
                "per-site search round {round}: {} {} -> {}, validation {:.2}%, cost {:.1}% of uniform, {} passes",
                probes[k].site,
                probes[k].from,
                probes[k].to,
                100.0 * current,
                100.0 * descent.cost(&alphas)? / uniform_cost,
                descent.passes
            );
        }
        trace.extend(probes);
        if kept.is_none() {
            break;
        }
    }
    pann.set_alphas(&alphas)?;
    let first_round = |site: &str| trace.iter().find(|p| p.round == 1 && p.site == site);
    let site_alphas = sites
        .iter()
        .zip(&descent.sizes)
        .zip(&alphas)
        .map(|((site, &size), &alpha)| {
            Ok(SiteAlpha {
                name: site.name.clone(),
                kind: site.kind,
                evaluations: size,
                alpha,
                cost: options.pricing.of(alpha, size)?,
                sensitivity: first_round(&site.name).map(|p| start_accuracy - p.validation_accuracy),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Search {
        pricing: options.pricing,
        validation_images: options.validation.len(),
        validation_backbone_accuracy: backbone,
        uniform_validation,
        uniform_alpha,
        uniform_cost,
        cost: descent.cost(&alphas)?,
        sites: site_alphas,
        validation_accuracy: current,
        passes: descent.passes,
        trace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(site: &str, validation_accuracy: f64, cost_saved: f64) -> Probe {
        let site = site.into();
        Probe { round: 1, site, from: 8, to: 7, validation_accuracy, cost_saved, kept: false }
    }

    #[test]
    fn the_kept_probe_loses_least_per_cost_saved_within_the_floor() {
        // From 0.80 with floor 0.78: a loses 1 point for 10, b 0.5 for 1, c gains, d breaks
        // the floor: c, then a (0.1 per unit) before b (0.5 per unit).
        let probes = [probe("a", 0.79, 10.0), probe("b", 0.795, 1.0), probe("c", 0.81, 1.0), probe("d", 0.7, 100.0)];
        assert_eq!(best(&probes, 0.80, 0.78), Some(2));
        assert_eq!(best(&probes[..2], 0.80, 0.78), Some(0));
        assert_eq!(best(&probes[3..], 0.80, 0.78), None);
        // Equal loss per cost: the larger saving.
        assert_eq!(best(&[probe("a", 0.80, 1.0), probe("b", 0.80, 5.0)], 0.80, 0.78), Some(1));
    }
}
