//! Inference images/s of the backbone (exact ReLU) and of its PANN at alpha 9 (every
//! ReLU the composite polynomial), through Evaluator::step of an inference network on
//! random data.

use rand::Rng;

use super::table::{figure, ms, Table};
use super::{random, BenchConfig};
use crate::evaluation::Evaluator;
use crate::gpu::{median, Gpu, GpuError, Result};
use crate::models::{self, ModelInput, ModelKind};
use crate::nn::{Mode, MAX_SITES};
use crate::poly::ReluApprox;

/// The precision of the PANN row (the paper's headline precision for ResNet-20).
const PANN_ALPHA: u32 = 9;
/// Every site's bound: large enough for random weights and inputs, so no input is clamped.
const BOUND: f32 = 1e4;

pub fn measure(gpu: &Gpu, config: &BenchConfig) -> Result<Table> {
    let batch = config.batch;
    let mut table =
        Table::new(format!("Inference (Evaluator::step), batch {batch}"), &["model", "mode", "batch ms", "images/s"]);
    let cifar = ModelInput { batch, channels: 3, height: 32, width: 32, classes: 10 };
    let mnist = ModelInput { batch, channels: 1, height: 28, width: 28, classes: 10 };
    for (name, kind, input) in [("ResNet-20", ModelKind::Resnet20, cifar), ("small CNN", ModelKind::Smallcnn, mnist)] {
        let network = models::build_for_inference(gpu, kind, input, 1.0, &mut random::rng())?;
        let evaluator = Evaluator::new(gpu, &network)?;
        let sites = &network.sites;
        let approx = ReluApprox::get(PANN_ALPHA).map_err(|e| GpuError::shape(e.to_string()))?;
        sites.coefficients.write(gpu, approx)?;
        gpu.write(&sites.bounds, &[BOUND; MAX_SITES])?;
        let mut rng = random::rng();
        let images = random::values(&mut rng, batch * input.channels * input.height * input.width);
        let labels: Vec<u32> = (0..batch).map(|_| rng.random_range(0..input.classes as u32)).collect();
        for (mode_name, mode) in [("backbone (exact ReLU)", Mode::Eval), ("PANN, alpha 9", Mode::Pann)] {
            let batch_time = || -> Result<f64> {
                let start = std::time::Instant::now();
                evaluator.step(&images, &labels, mode)?;
                gpu.wait()?;
                Ok(start.elapsed().as_secs_f64())
            };
            batch_time()?;
            let seconds = median(&(0..config.step_repeats).map(|_| batch_time()).collect::<Result<Vec<_>>>()?);
            table.row(vec![name.into(), mode_name.into(), ms(seconds), figure(batch as f64 / seconds)]);
        }
    }
    table.notes.push(format!(
        "Batch ms: median wall time of Evaluator::step (upload, forward, loss) plus the wait for the GPU, after a warm-up \
         batch. PANN: every ReLU is the composite polynomial of alpha {PANN_ALPHA} ({:?}) evaluated by Clenshaw.",
        ReluApprox::get(PANN_ALPHA).map(|a| a.sign().degrees()).unwrap_or_default()
    ));
    Ok(table)
}
