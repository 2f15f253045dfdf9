//! The PANN side of a network: its sites (ReLUs and max poolings) in index order, the
//! precision alpha of their polynomial, a bound B per site, calibration of those bounds
//! and the overflows counted against them. The sweep and the export go through this, not
//! through the network's site tables.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{bail, Context};

use crate::data::{BatchPlan, Dataset, EpochBatches, Normalization};
use crate::evaluation::Evaluator;
use crate::gpu::{Gpu, Tensor};
use crate::nn::describe::INPUT;
use crate::nn::{Mode, Network, Op, Site, MAX_SITES};
use crate::poly::ReluApprox;

pub struct Pann<'e> {
    evaluator: &'e Evaluator<'e>,
    /// What the GPU tables hold, for the checks made on the CPU: each site's B and alpha.
    bounds: RefCell<Vec<f32>>,
    alphas: RefCell<Vec<u32>>,
}

impl<'e> Pann<'e> {
    pub fn new(evaluator: &'e Evaluator<'e>) -> Pann<'e> {
        Pann { evaluator, bounds: RefCell::default(), alphas: RefCell::default() }
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
        self.network().sites.coefficients.write(self.gpu(), ReluApprox::get(alpha)?)?;
        *self.alphas.borrow_mut() = vec![alpha; self.network().sites.count()];
        Ok(())
    }

    /// Site i approximates with the polynomial of precision `alphas[i]` in PANN mode (one
    /// alpha per site, in index order).
    pub fn set_alphas(&self, alphas: &[u32]) -> anyhow::Result<()> {
        let tables = &self.network().sites;
        if alphas.len() != tables.count() {
            bail!("{} alphas for {} sites", alphas.len(), tables.count());
        }
        let approxes = alphas.iter().map(|&alpha| ReluApprox::get(alpha)).collect::<Result<Vec<_>, _>>()?;
        tables.coefficients.write_each(self.gpu(), &approxes)?;
        *self.alphas.borrow_mut() = alphas.to_vec();
        Ok(())
    }

    /// Each site's alpha, in index order (empty until set).
    pub fn alphas(&self) -> Vec<u32> {
        self.alphas.borrow().clone()
    }

    /// Each site's bound B, in index order (empty until set).
    pub fn bounds(&self) -> Vec<f32> {
        self.bounds.borrow().clone()
    }

    /// Each site's input, in index order, holding the last batch evaluated. The network
    /// lists its values twice in the same order, layer by layer: as the ops of `describe`
    /// and as the tensors of `activations` (after the input); a site's op names the value
    /// it reads.
    pub fn site_inputs(&self) -> anyhow::Result<Vec<&Tensor>> {
        let network = self.network();
        let (ops, activations) = (network.describe(), network.activations());
        if activations.len() != ops.len() + 1 {
            bail!(
                "the network describes {} ops but holds {} values besides its input",
                ops.len(),
                activations.len() - 1
            );
        }
        let names = std::iter::once(INPUT).chain(ops.iter().map(Op::name));
        let values: HashMap<&str, &Tensor> = names.zip(activations.iter().map(|a| &a.value)).collect();
        let mut inputs = vec![None; network.sites.count()];
        for op in &ops {
            if let Op::Relu { input, site_index, .. } | Op::MaxPool2x2 { input, site_index, .. } = op {
                let value =
                    values.get(input.as_str()).with_context(|| format!("{} reads no value {input}", op.name()))?;
                inputs[*site_index as usize] = Some(*value);
            }
        }
        inputs.into_iter().enumerate().map(|(i, t)| t.with_context(|| format!("site {i} has no op"))).collect()
    }

    /// B of each site, in index order.
    pub fn set_bounds(&self, bounds: &[f32]) -> anyhow::Result<()> {
        let tables = &self.network().sites;
        if bounds.len() != tables.count() {
            bail!("{} bounds for {} sites", bounds.len(), tables.count());
        }
        // Unused entries: any positive bound keeps the kernels from dividing by zero.
        let padded: Vec<f32> = bounds.iter().copied().chain(std::iter::repeat(1.0)).take(MAX_SITES).collect();
        self.gpu().write(&tables.bounds, &padded)?;
        *self.bounds.borrow_mut() = bounds.to_vec();
        Ok(())
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
    pub fn overflows(&self) -> crate::gpu::Result<Vec<u32>> {
        let counters = self.network().overflow_counters();
        counters.iter().map(|counter| Ok(self.gpu().download::<u32>(counter)?[0])).collect()
    }

    /// The sum of [`Pann::overflows`].
    pub fn total_overflows(&self) -> crate::gpu::Result<u64> {
        Ok(self.overflows()?.iter().map(|&n| n as u64).sum())
    }
}
