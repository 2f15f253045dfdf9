//! The VGG's max poolings in a PANN: each registers as a site, calibration measures its
//! input, PANN mode runs the polynomial max with that site's bound and counts its overflows
//! on a counter of its own, and the other modes keep the exact max.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sturdy::gpu::{Gpu, Recorder};
use sturdy::models::{self, ModelInput, ModelKind};
use sturdy::nn::{Mode, Network, TrainActivation, MAX_SITES};
use sturdy::poly::ReluApprox;

/// Three 2x2 poolings take 12x12 down to 1x1.
const INPUT: ModelInput = ModelInput { batch: 3, channels: 3, height: 12, width: 12, classes: 5 };

fn logits(gpu: &Gpu, network: &Network, images: &[f32], mode: Mode) -> Vec<f64> {
    gpu.write(&network.input.value, images).unwrap();
    let mut recorder = Recorder::new(gpu);
    network.record_forward(&mut recorder, mode);
    recorder.submit().unwrap();
    gpu.download::<f32>(&network.logits().value).unwrap().into_iter().map(f64::from).collect()
}

fn relative_error(actual: &[f64], expected: &[f64]) -> f64 {
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|e| e * e).sum::<f64>().sqrt();
    norm(&mut actual.iter().zip(expected).map(|(a, e)| a - e)) / norm(&mut expected.iter().copied())
}

fn overflow_counts(gpu: &Gpu, network: &Network) -> Vec<u32> {
    network.overflow_counters().iter().map(|counter| gpu.download::<u32>(counter).unwrap()[0]).collect()
}

#[test]
fn vgg_pools_calibrate_and_run_the_polynomial_max_in_pann_mode() {
    let seed: u64 = rand::rng().random();
    let context = format!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let gpu = Gpu::from_env().unwrap();
    let network = models::build(&gpu, ModelKind::Vgg, INPUT, 0.05, TrainActivation::Exact, &mut rng).unwrap();
    let sites = &network.sites;

    // Sites in construction order: two ReLUs, then the pool, per stage.
    let names = sites.names();
    assert_eq!(names.len(), 9, "{names:?}");
    let pools: Vec<usize> = (0..names.len()).filter(|&i| names[i].ends_with(".pool")).collect();
    assert_eq!(pools, [2, 5, 8], "{names:?}");
    assert_eq!(network.overflow_counters().len(), names.len(), "one counter per site, pools included");

    let images: Vec<f32> = (0..INPUT.batch * 3 * 12 * 12).map(|_| rng.random_range(-2.0..2.0)).collect();
    let exact = logits(&gpu, &network, &images, Mode::Eval);

    // Calibration measures every site, pools included; it does not change the outputs.
    gpu.write(&sites.max_abs, &vec![0.0f32; MAX_SITES]).unwrap();
    assert_eq!(logits(&gpu, &network, &images, Mode::Calibrate), exact, "{context}");
    let max_abs = gpu.download::<f32>(&sites.max_abs).unwrap();
    // A pool's input is a ReLU's output: positive and at most the max of that ReLU's input.
    for &p in &pools {
        assert!(max_abs[p] > 0.0 && max_abs[p] <= max_abs[p - 1], "{context}: {names:?} {max_abs:?}");
    }

    // Bounds with a margin (PANN-mode inputs differ a little from calibration's): nothing
    // overflows, and the logits approach the exact ones as alpha grows.
    let margin = 2.0;
    let bounds: Vec<f32> = max_abs.iter().map(|&m| (m * margin).max(f32::MIN_POSITIVE)).collect();
    gpu.write(&sites.bounds, &bounds).unwrap();
    let mut errors = Vec::new();
    for alpha in [4, 20] {
        sites.coefficients.write(&gpu, ReluApprox::get(alpha).unwrap()).unwrap();
        let pann = logits(&gpu, &network, &images, Mode::Pann);
        assert_eq!(overflow_counts(&gpu, &network), vec![0; 9], "{context}: alpha {alpha}");
        errors.push(relative_error(&pann, &exact));
    }
    println!("PANN logits vs exact: relative error {:.2e} at alpha 4, {:.2e} at alpha 20", errors[0], errors[1]);
    assert!(errors[1] < 1e-3 && errors[1] < errors[0] / 100.0, "{context}: {errors:?}");

    // A bound far below the second pool's inputs: its differences overflow and are counted
    // on its own counter; the sites before it are untouched.
    let mut small = bounds.clone();
    small[pools[1]] = max_abs[pools[1]] / 100.0;
    gpu.write(&sites.bounds, &small).unwrap();
    logits(&gpu, &network, &images, Mode::Pann);
    let counts = overflow_counts(&gpu, &network);
    assert!(counts[pools[1]] > 0, "{context}: {counts:?}");
    assert_eq!(counts[..pools[1]], [0; 5], "{context}: {counts:?}");

    // Exact max again outside PANN mode; nothing more is counted.
    assert_eq!(logits(&gpu, &network, &images, Mode::Eval), exact, "{context}");
    assert_eq!(overflow_counts(&gpu, &network), counts, "{context}");
}
