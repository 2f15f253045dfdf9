//! The PANN side of a network: its sites (ReLUs and max poolings) in index order, the
//! precision alpha of their polynomial, a bound B per site, calibration of those bounds
//! and the overflows counted against them. The sweep and the export go through this, not
//! through the network's site tables.

use std::sync::Arc;

use anyhow::bail;

use crate::data::{BatchPlan, Dataset, EpochBatches, Normalization};
use crate::evaluation::Evaluator;
use crate::gpu::Gpu;
use crate::nn::{Mode, Network, Site, MAX_SITES};
use crate::poly::ReluApprox;

pub struct Pann<'e> {
    evaluator: &'e Evaluator<'e>,
}

impl<'e> Pann<'e> {
    pub fn new(evaluator: &'e Evaluator<'e>) -> Pann<'e> {
        Pann { evaluator }
    }

    fn gpu(&self) -> &Gpu {
        self.evaluator.gpu()
    }

    fn network(&self) -> &Network {
        self.evaluator.network()
    }

    /// Every site, in index order: `sites()[i].index == i`.
    pub fn sites(&self) -> Vec<&Site> {
        self.network().site_list()
    }

    /// Every site approximates with the polynomial of precision `alpha` in PANN mode.
    pub fn set_alpha(&self, alpha: u32) -> anyhow::Result<()> {
        Ok(self.network().sites.coefficients.write(self.gpu(), ReluApprox::get(alpha)?)?)
    }

    /// Site i approximates with the polynomial of precision `alphas[i]` in PANN mode (one
    /// alpha per site, in index order).
    pub fn set_alphas(&self, alphas: &[u32]) -> anyhow::Result<()> {
        let tables = &self.network().sites;
        if alphas.len() != tables.count() {
            bail!("{} alphas for {} sites", alphas.len(), tables.count());
        }
        let approxes = alphas.iter().map(|&alpha| ReluApprox::get(alpha)).collect::<Result<Vec<_>, _>>()?;
        Ok(tables.coefficients.write_each(self.gpu(), &approxes)?)
    }

    /// B of each site, in index order.
    pub fn set_bounds(&self, bounds: &[f32]) -> anyhow::Result<()> {
        let tables = &self.network().sites;
        if bounds.len() != tables.count() {
            bail!("{} bounds for {} sites", bounds.len(), tables.count());
        }
        // Unused entries: any positive bound keeps the kernels from dividing by zero.
        let padded: Vec<f32> = bounds.iter().copied().chain(std::iter::repeat(1.0)).take(MAX_SITES).collect();
        Ok(self.gpu().write(&tables.bounds, &padded)?)
    }

    /// Max |x| of every site's input over (up to) the first `images` images of `data`
    /// (whole batches), in evaluation mode: running batch-norm statistics, exact sites.
    pub fn calibrate(
        &self,
        data: &Arc<Dataset>,
        normalization: &Normalization,
        images: usize,
    ) -> anyhow::Result<Vec<f32>> {
        let tables = &self.network().sites;
        self.gpu().write(&tables.max_abs, &vec![0.0f32; MAX_SITES])?;
        let batch_size = self.evaluator.batch_size();
        let batches = EpochBatches::new(data.clone(), normalization, BatchPlan::evaluation(batch_size), 0);
        self.evaluator.run(batches.take(images.div_ceil(batch_size).max(1)), Mode::Calibrate, |_| Ok(()))?;
        self.evaluator.take_totals()?;
        let mut max_abs = self.gpu().download::<f32>(&tables.max_abs)?;
        max_abs.truncate(tables.count());
        Ok(max_abs)
    }

    /// Zeroes every site's overflow count.
    pub fn reset_overflows(&self) -> anyhow::Result<()> {
        for counter in self.network().overflow_counters() {
            self.gpu().write(counter, &[0u32])?;
        }
        Ok(())
    }

    /// Each site's PANN-mode overflows since the last reset, in index order.
    pub fn overflows(&self) -> anyhow::Result<Vec<u32>> {
        let counters = self.network().overflow_counters();
        counters.iter().map(|counter| Ok(self.gpu().download::<u32>(counter)?[0])).collect()
    }
}
