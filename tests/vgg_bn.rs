//! The VGG-BNs of the prior work (approxCNN's `vgg_cifar10.py`): parameter counts equal
//! PyTorch's, every ReLU and max pooling is a site, inputs too small for five poolings are
//! refused with the fix, and the classifier's dropout is seeded, applied in training only.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sturdy::gpu::{Gpu, Recorder};
use sturdy::models::{self, ModelInput, ModelKind};
use sturdy::nn::{Mode, Network, TrainActivation};
use sturdy::ops::noisy_relu::set_counter;

const CIFAR: ModelInput = ModelInput { batch: 2, channels: 3, height: 32, width: 32, classes: 10 };

#[test]
fn vgg_bns_have_the_published_parameter_counts_and_sites() {
    let gpu = Gpu::from_env().unwrap();
    // sum(p.numel() for p in model.parameters()) of approxCNN's definitions in PyTorch
    // 1.13, and the convolutions of configurations A, B, D, E.
    let expected =
        [(ModelKind::Vgg11, 9_756_426, 8), (ModelKind::Vgg13, 9_941_322, 10), (ModelKind::Vgg16, 15_253_578, 13)];
    for (kind, parameters, convs) in expected.into_iter().chain([(ModelKind::Vgg19, 20_565_834, 16)]) {
        let network = models::build_for_inference(&gpu, kind, CIFAR, 1.0, &mut StdRng::seed_from_u64(0)).unwrap();
        let count: usize = network.params().iter().map(|p| p.value.len()).sum();
        assert_eq!(count, parameters, "{kind}");
        let names = network.sites.names();
        assert_eq!(names.len(), convs + 5 + 2, "{kind}: a ReLU per conv, five pools, two classifier ReLUs: {names:?}");
        assert_eq!(names.iter().filter(|n| n.ends_with(".pool")).count(), 5, "{kind}: {names:?}");
    }
}

#[test]
fn a_vgg_bn_refuses_inputs_too_small_for_five_poolings() {
    let gpu = Gpu::from_env().unwrap();
    let fashion = ModelInput { channels: 1, height: 28, width: 28, ..CIFAR };
    let error = models::build_for_inference(&gpu, ModelKind::Vgg11, fashion, 0.25, &mut StdRng::seed_from_u64(0))
        .err()
        .expect("28x28 is too small")
        .to_string();
    assert!(error.contains("at least 32x32, not 28x28") && error.contains("--model vgg"), "{error}");
}

fn logits(gpu: &Gpu, network: &Network, images: &[f32], mode: Mode, seed: u64, step: u32) -> Vec<f32> {
    set_counter(gpu, network.sites.random_counter().unwrap(), seed, step).unwrap();
    gpu.write(&network.input.value, images).unwrap();
    let mut recorder = Recorder::new(gpu);
    network.record_forward(&mut recorder, mode);
    recorder.submit().unwrap();
    gpu.download::<f32>(&network.logits().value).unwrap()
}

#[test]
fn dropout_is_seeded_and_applied_in_training_only() {
    let seed: u64 = rand::rng().random();
    let mut rng = StdRng::seed_from_u64(seed);
    let gpu = Gpu::from_env().unwrap();
    let input = ModelInput { batch: 4, ..CIFAR };
    let network = models::build(&gpu, ModelKind::Vgg11, input, 0.125, TrainActivation::Exact, &mut rng).unwrap();
    let images: Vec<f32> = (0..4 * 3 * 32 * 32).map(|_| rng.random_range(-2.0..2.0)).collect();
    // Exact training is deterministic but for the dropout masks: the same (seed, step)
    // gives the same logits, another step other masks and so other logits.
    let train = |step| logits(&gpu, &network, &images, Mode::Train, seed, step);
    assert_eq!(train(3), train(3), "seed {seed}");
    assert_ne!(train(3), train(4), "seed {seed}");
    // Evaluation does not drop anything, whatever the counter says.
    let eval = |step| logits(&gpu, &network, &images, Mode::Eval, seed, step);
    assert_eq!(eval(3), eval(4), "seed {seed}");
}
