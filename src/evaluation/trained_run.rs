//! A training run folder opened for inference, the one way `sturdy eval`, `sturdy sweep`
//! and `sturdy export` read a run: run.json, the datasets it names, and its network built
//! without gradients and restored from its checkpoint.

use std::path::Path;

use anyhow::bail;

use super::evaluator::Evaluator;
use crate::gpu::{Gpu, Result};
use crate::nn::{Network, Purpose};
use crate::train::run::{self, Datasets};
use crate::train::RunFile;

pub struct TrainedRun {
    pub file: RunFile,
    pub datasets: Datasets,
    pub network: Network,
    /// Epochs finished when the checkpoint was written (at least one).
    pub epochs: usize,
}

impl TrainedRun {
    /// Opens the run in `dir`, which must have finished an epoch.
    pub fn open(gpu: &Gpu, dir: &Path) -> anyhow::Result<TrainedRun> {
        let file = RunFile::load(dir)?;
        let datasets = run::load_datasets(&file.config)?;
        let network = run::build_network(gpu, &file.config, &datasets.train, Purpose::Inference)?;
        let epochs = run::restore_checkpoint(gpu, &network, dir)?;
        if epochs == 0 {
            bail!("{} has no checkpoint yet: its first epoch did not finish", dir.display());
        }
        Ok(TrainedRun { file, datasets, network, epochs })
    }

    pub fn evaluator<'a>(&'a self, gpu: &'a Gpu) -> Result<Evaluator<'a>> {
        Evaluator::new(gpu, &self.network)
    }
}
