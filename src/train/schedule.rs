//! Learning-rate schedules, evaluated per step so warm-up and cosine are smooth.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// lr * gamma^k after the k-th milestone epoch.
    Multistep,
    /// Cosine decay from lr to 0 over the run.
    Cosine,
    /// Constant lr.
    Constant,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub kind: ScheduleKind,
    pub base_lr: f64,
    /// Linear warm-up from 0 over this many epochs (may be fractional or 0).
    pub warmup_epochs: f64,
    /// Epochs at which multistep multiplies the rate by `gamma`.
    pub milestones: Vec<usize>,
    pub gamma: f64,
    pub epochs: usize,
    pub steps_per_epoch: usize,
}

impl Schedule {
    /// The learning rate for global step `step` (0-based).
    pub fn lr(&self, step: usize) -> f64 {
        let epoch = step as f64 / self.steps_per_epoch.max(1) as f64;
        let warmup = if self.warmup_epochs > 0.0 {
            ((step + 1) as f64 / (self.warmup_epochs * self.steps_per_epoch as f64)).min(1.0)
        } else {
            1.0
        };
        let decay = match self.kind {
            ScheduleKind::Constant => 1.0,
            ScheduleKind::Multistep => {
                let passed = self.milestones.iter().filter(|&&m| epoch >= m as f64).count();
                self.gamma.powi(passed as i32)
            }
            ScheduleKind::Cosine => {
                let progress = (epoch / self.epochs.max(1) as f64).min(1.0);
                0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        };
        self.base_lr * warmup * decay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(kind: ScheduleKind, warmup_epochs: f64) -> Schedule {
        Schedule {
            kind,
            base_lr: 0.1,
            warmup_epochs,
            milestones: vec![2, 4],
            gamma: 0.1,
            epochs: 6,
            steps_per_epoch: 10,
        }
    }

    #[test]
    fn multistep_drops_by_gamma_at_each_milestone() {
        let s = schedule(ScheduleKind::Multistep, 0.0);
        assert_eq!(s.lr(0), 0.1);
        assert_eq!(s.lr(19), 0.1);
        assert!((s.lr(20) - 0.01).abs() < 1e-15);
        assert!((s.lr(45) - 0.001).abs() < 1e-15);
    }

    #[test]
    fn cosine_starts_at_base_halves_midway_and_ends_near_zero() {
        let s = schedule(ScheduleKind::Cosine, 0.0);
        assert_eq!(s.lr(0), 0.1);
        assert!((s.lr(30) - 0.05).abs() < 1e-12);
        assert!(s.lr(59) < 0.1 * 1e-2);
    }

    #[test]
    fn warmup_rises_linearly_then_hands_over() {
        let s = schedule(ScheduleKind::Constant, 1.0);
        assert!((s.lr(0) - 0.01).abs() < 1e-12);
        assert!((s.lr(4) - 0.05).abs() < 1e-12);
        assert_eq!(s.lr(9), 0.1);
        assert_eq!(s.lr(25), 0.1);
    }
}
