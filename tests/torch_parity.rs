//! sturdy against PyTorch in float64 (interop/torch/reference.py; fixtures in
//! tests/fixtures/torch/parity/): for each case, from the fixture's weights, running
//! statistics, velocities and batch, sturdy's training step on the GPU gives PyTorch's
//! logits, loss, every gradient, updated weights and running statistics, with the
//! fixture's SGD settings, dropout masks and Mixup draw (soft targets); and the PANN at alpha 7 and 12 with the
//! fixture's per-site bounds gives PyTorch's logits on the GPU and in the f64 export
//! evaluator. Every setting is read from the fixture's metadata.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::de::DeserializeOwned;
use sturdy::checkpoint::{Checkpoint, NamedTensor};
use sturdy::export::forward::{Clamp, CpuNetwork, SiteFunction};
use sturdy::export::manifest::Layer;
use sturdy::export::torch::names::{tensor_names, TensorName};
use sturdy::export::torch::state_dict;
use sturdy::gpu::{Gpu, Recorder, Tensor};
use sturdy::models::{self, Model, ModelInput};
use sturdy::nn::{Mode, Network, Op, TrainActivation, MAX_SITES};
use sturdy::ops::poly_relu::MAX_POOL_SECOND_SCALE;
use sturdy::poly::export::ReluExport;
use sturdy::poly::ReluApprox;
use sturdy::reference::dropout;
use sturdy::train::{state, SgdConfig, Trainer};

/// Unit roundoff of f32.
const U: f64 = f32::EPSILON as f64 / 2.0;

/// Logits, loss and running statistics, relative to the largest logit or to the norm of a
/// statistic's change. PyTorch's side is exact to 1e-16; sturdy's sums in f32, each within
/// n u of the exact sum relative to the sum of its terms' magnitudes (u = 2^-24), n up to
/// N H W = 4 x 32 x 32 = 4096 (batch statistics; dot products are at most 9 x 8 = 72 long):
/// 2.4e-4 worst case, sqrt(n) u = 3.8e-6 for rounding errors of random sign. Through 20
/// layers, batch norm renormalising each, those add to 5e-3 and 8e-5: 1e-4 holds the
/// random-sign growth. A running variance stored biased (N H W = 16 in the last stages: 6 %)
/// or a wrong dropout mask moves these by 1e-3 to 1.
const FORWARD: f64 = 1e-4;
/// Gradients, and weight changes (made from them), relative to each tensor's norm: the
/// backward pass runs the forward's chain back with sums of the same lengths (weight
/// gradients over N H W), twice the forward's error, and batch norm's backward cancels (dy
/// minus its mean and its projection on x-hat), losing a few times more: 1e-3. Weight decay
/// on batch norm, Nesterov or momentum ignored move a tensor's change by 0.1 to 1 here
/// (weight decay 0.05; velocities the gradients of another batch).
const BACKWARD: f64 = 1e-3;
/// A convolution's bias feeding batch norm in training has a zero gradient (the batch mean
/// is subtracted, so the bias cannot move the loss): 1e-16 in PyTorch's f64. sturdy's is
/// the f32 rounding of a sum of up to 4096 terms that cancel, at most n u = 2.4e-4 of the
/// sum of their magnitudes. The layer's weight gradient sums the same terms times the
/// layer's inputs (of order 1 after batch norm), so its norm stands for that sum. A bias
/// gradient that is not zero (batch norm's output gradient summed in place of its input
/// gradient) is as large as the weight gradient.
const ZERO_GRADIENT: f64 = 2.4e-4;
/// The PANN in the export's f64 evaluator computes reference.py's function in f64 (same
/// weights, bounds and coefficients): what is left is the rounding of the stored logits
/// to f32 (u of the largest) and f64's own (1e-12 after the polynomials' gain).
const F64_PANN: f64 = 4.0 * U;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch/parity")
}

/// One case's tensors (PyTorch's names) and settings.
struct Fixture {
    path: PathBuf,
    tensors: BTreeMap<String, NamedTensor>,
    settings: HashMap<String, serde_json::Value>,
}

impl Fixture {
    fn load(case: &str) -> Fixture {
        let path = fixture_dir().join(format!("{case}.safetensors"));
        let bytes = std::fs::read(&path).unwrap();
        let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let settings = metadata.metadata().as_ref().and_then(|m| m.get("settings")).expect("reference.py's settings");
        let settings = serde_json::from_str(settings).unwrap();
        Fixture { tensors: state_dict::read(&path).unwrap(), settings, path }
    }

    fn tensor(&self, name: &str) -> &[f32] {
        &self.tensors.get(name).unwrap_or_else(|| panic!("{} has no {name}", self.path.display())).data
    }

    fn f64s(&self, name: &str) -> Vec<f64> {
        self.tensor(name).iter().map(|&v| v as f64).collect()
    }

    fn setting<T: DeserializeOwned>(&self, key: &str) -> T {
        let value = self.settings.get(key).unwrap_or_else(|| panic!("{}: no setting {key}", self.path.display()));
        T::deserialize(value).unwrap_or_else(|e| panic!("{}: setting {key} = {value}: {e}", self.path.display()))
    }

    fn setting_or<T: DeserializeOwned>(&self, key: &str, default: T) -> T {
        if self.settings.contains_key(key) {
            self.setting(key)
        } else {
            default
        }
    }

    fn model(&self) -> Model {
        Model { kind: self.setting("model"), shortcut: self.setting("shortcut") }
    }

    fn input(&self) -> ModelInput {
        let side = self.setting("side");
        let (batch, channels, classes) = (self.setting("batch"), self.setting("channels"), self.setting("classes"));
        ModelInput { batch, channels, height: side, width: side, classes }
    }

    fn sgd(&self) -> SgdConfig {
        SgdConfig {
            momentum: self.setting("momentum"),
            nesterov: self.setting("nesterov"),
            weight_decay: self.setting("weight_decay"),
            decay_norm: self.setting("decay_norm"),
        }
    }

    fn labels(&self) -> Vec<u32> {
        self.tensor("labels").iter().map(|&l| l as u32).collect()
    }

    /// The case's given Mixup draw (lambda, perm), if it has one.
    fn mixup_draw(&self) -> Option<(f32, Vec<u32>)> {
        let lambda: Option<f32> = self.setting_or("mixup_lambda", None);
        lambda.map(|lambda| (lambda, self.setting("mixup_perm")))
    }
}

fn norm(values: &[f64]) -> f64 {
    values.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn minus(a: &[f64], b: &[f64]) -> Vec<f64> {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// max |ours - theirs| / max |theirs|.
fn relative_to_largest(ours: &[f64], theirs: &[f64]) -> f64 {
    let largest = theirs.iter().fold(0.0f64, |m, t| m.max(t.abs()));
    minus(ours, theirs).iter().fold(0.0f64, |m, d| m.max(d.abs())) / largest
}

/// The worst measured difference of each kind of check, printed at the end.
#[derive(Default)]
struct Worst(BTreeMap<&'static str, (f64, String)>);

impl Worst {
    fn check(&mut self, kind: &'static str, what: &str, difference: f64, bound: f64) {
        assert!(difference <= bound, "{what}: sturdy differs from PyTorch by {difference:.2e} > {bound:.2e} ({kind})");
        let entry = self.0.entry(kind).or_insert((0.0, String::new()));
        if difference >= entry.0 {
            *entry = (difference, what.to_string());
        }
    }

    fn print(&self, case: &str) {
        for (kind, (difference, what)) in &self.0 {
            eprintln!("{case}: worst {kind}: {difference:.2e} ({what})");
        }
    }
}

fn download(gpu: &Gpu, tensor: &Tensor) -> Vec<f64> {
    gpu.download::<f32>(tensor).unwrap().into_iter().map(f64::from).collect()
}

fn torch_name<'n>(names: &'n [TensorName], sturdy: &str) -> &'n str {
    &names.iter().find(|n| n.sturdy == sturdy).unwrap_or_else(|| panic!("{sturdy} has no PyTorch name")).torch
}

/// The fixture's weights and running statistics under sturdy's names (the sites' running
/// max |x|, which PyTorch has no counterpart of, zero).
fn checkpoint(fixture: &Fixture, network: &Network, names: &[TensorName]) -> Checkpoint {
    let mut checkpoint = Checkpoint::default();
    for name in names {
        checkpoint.push(&name.sturdy, &name.shape, fixture.tensor(&name.torch).to_vec());
    }
    for (name, tensor) in network.state().into_iter().filter(|(n, _)| !names.iter().any(|t| &t.sturdy == n)) {
        checkpoint.push(name, tensor.shape(), vec![0.0; tensor.len()]);
    }
    checkpoint
}

/// Loads the fixture's weights, statistics and (where it has them) velocities.
fn restore(gpu: &Gpu, fixture: &Fixture, network: &Network, names: &[TensorName]) -> Checkpoint {
    let checkpoint = checkpoint(fixture, network, names);
    state::restore_weights(gpu, network, &checkpoint, &fixture.path).unwrap();
    for param in network.params() {
        let velocity = format!("velocity.{}", torch_name(names, &param.name));
        if fixture.tensors.contains_key(&velocity) {
            gpu.write(&param.training.as_ref().unwrap().velocity, fixture.tensor(&velocity)).unwrap();
        }
    }
    checkpoint
}

/// sturdy's polynomial at `alpha`, which the committed `sturdy approx --json` file that
/// reference.py read must hold (byte for byte: what `sturdy approx` writes today).
fn polynomial(alpha: u32) -> ReluExport {
    let path = fixture_dir().join(format!("relu{alpha}.json"));
    let current = ReluExport::from(ReluApprox::get(alpha).unwrap());
    let written = serde_json::to_vec_pretty(&current).unwrap();
    assert!(std::fs::read(&path).unwrap() == written, "{} is stale: regenerate it (README)", path.display());
    current
}

/// The network's inference graph with each site's bound.
fn layers_with_bounds(network: &Network, bounds: &[f32]) -> Vec<Layer> {
    let mut ops = network.describe();
    for op in &mut ops {
        if let Op::Relu { bound, site_index, .. } | Op::MaxPool2x2 { bound, site_index, .. } = op {
            *bound = Some(bounds[*site_index as usize]);
        }
    }
    ops.into_iter().map(Layer::from).collect()
}

/// The GPU's PANN logits of the network's input at `alpha`, checking that no site input
/// left its bound (reference.py checked its side: nothing clamps on either).
fn gpu_pann_logits(gpu: &Gpu, network: &Network, alpha: u32) -> Vec<f64> {
    network.sites.coefficients.write(gpu, ReluApprox::get(alpha).unwrap()).unwrap();
    let mut recorder = Recorder::new(gpu);
    network.record_forward(&mut recorder, Mode::Pann);
    recorder.submit().unwrap();
    for counter in network.overflow_counters() {
        assert_eq!(gpu.download::<u32>(counter).unwrap()[0], 0, "alpha {alpha}: an input beyond its bound");
    }
    download(gpu, &network.logits().value)
}

/// The PANN's logits at each alpha with the fixture's bounds, on the GPU and in f64.
fn check_pann(gpu: &Gpu, fixture: &Fixture, network: &Network, checkpoint: &Checkpoint, worst: &mut Worst) {
    let bounds = fixture.tensor("pann.bounds");
    assert_eq!(bounds.len(), network.sites.count(), "one bound per site");
    let second_scale: f64 = fixture.setting("max_pool_second_scale");
    assert_eq!(second_scale, MAX_POOL_SECOND_SCALE, "reference.py's max pooling is not sturdy's");
    let mut table = vec![1.0f32; MAX_SITES];
    table[..bounds.len()].copy_from_slice(bounds);
    gpu.write(&network.sites.bounds, &table).unwrap();
    let images = fixture.tensor("input");
    gpu.write(&network.input.value, images).unwrap();
    let cpu = CpuNetwork::new(&layers_with_bounds(network, bounds), checkpoint);
    let (batch, classes): (usize, usize) = (fixture.setting("batch"), fixture.setting("classes"));
    for alpha in fixture.setting::<Vec<u32>>("alphas") {
        let expected = fixture.f64s(&format!("pann{alpha}.logits"));
        // The f32 forward's bound, the polynomials' f32 evaluation on top: Clenshaw in f32
        // stays within 2^-18 B of f64 (PANN.md), B 1.5 times the site's largest |input|:
        // 6e-6 of a site's scale, 3e-5 at random sign over 20 sites.
        let ours = gpu_pann_logits(gpu, network, alpha);
        worst.check("PANN logits (GPU)", &format!("alpha {alpha}"), relative_to_largest(&ours, &expected), FORWARD);

        let relu = polynomial(alpha);
        for (image, theirs) in images.chunks(images.len() / batch).zip(expected.chunks(classes)) {
            let image: Vec<f64> = image.iter().map(|&v| v as f64).collect();
            let forward = cpu.run(&image, SiteFunction::Poly(&relu), Clamp::NoClamp).unwrap();
            assert_eq!(forward.overflows, 0, "alpha {alpha}: an input beyond its bound in f64");
            let difference = relative_to_largest(&forward.logits, theirs);
            worst.check("PANN logits (f64 evaluator)", &format!("alpha {alpha}"), difference, F64_PANN);
        }
    }
}

/// reference.py's dropout masks are sturdy's for the fixture's seed and step.
fn check_dropout_masks(fixture: &Fixture, seed: u64, step: u32) {
    for (stream, name) in ["dropout1.mask", "dropout2.mask"].into_iter().enumerate() {
        let Some(mask) = fixture.tensors.get(name) else { continue };
        let rate: f64 = fixture.setting("dropout_rate");
        let ours = dropout::mask(seed, step, (MAX_SITES + stream) as u32, rate, mask.data.len());
        let theirs: Vec<bool> = mask.data.iter().map(|&m| m == 1.0).collect();
        assert_eq!(ours, theirs, "{name}: reference.py's mask is not sturdy's");
    }
}

/// A gradient against PyTorch's: within [`BACKWARD`] of its norm, or, where PyTorch's is
/// zero to f64 rounding, below [`ZERO_GRADIENT`] of the layer's weight gradient.
fn check_gradient(fixture: &Fixture, torch: &str, ours: &[f64], worst: &mut Worst) {
    let name = format!("grad.{torch}");
    let theirs = fixture.f64s(&name);
    let weight = torch.strip_suffix(".bias").map(|layer| norm(&fixture.f64s(&format!("grad.{layer}.weight"))));
    match weight {
        Some(weight) if norm(&theirs) <= 1e-12 * weight => {
            worst.check("zero gradient", &name, norm(ours) / weight, ZERO_GRADIENT)
        }
        _ => worst.check("gradient", &name, norm(&minus(ours, &theirs)) / norm(&theirs), BACKWARD),
    }
}

/// A weight's or running statistic's change over the step against PyTorch's, relative to
/// its norm. Both new values are rounded to f32 (sturdy's kernel, the fixture), 2 u of the
/// value each, which is added to the bound.
fn check_change(fixture: &Fixture, name: &TensorName, after: &Checkpoint, worst: &mut Worst) {
    let before = fixture.f64s(&name.torch);
    let theirs_after = fixture.f64s(&format!("after.{}", name.torch));
    let ours_after = after.tensors.iter().find(|t| t.name == name.sturdy).unwrap();
    let ours_after: Vec<f64> = ours_after.data.iter().map(|&v| v as f64).collect();
    let theirs = norm(&minus(&theirs_after, &before));
    let statistic = name.torch.ends_with("running_mean") || name.torch.ends_with("running_var");
    let (kind, bound) = if statistic { ("running statistic change", FORWARD) } else { ("weight change", BACKWARD) };
    let rounding = 2.0 * U * norm(&theirs_after) / theirs;
    worst.check(kind, &name.torch, norm(&minus(&ours_after, &theirs_after)) / theirs, bound + rounding);
}

/// One training step from the restored network: logits, loss, gradients, weights and
/// running statistics against PyTorch's.
fn check_step(gpu: &Gpu, fixture: &Fixture, network: Network, names: &[TensorName], worst: &mut Worst) {
    // Only the VGGs' dropout reads the random stream.
    let (seed, step): (u64, u32) = (fixture.setting_or("seed", 0), fixture.setting_or("step", 0));
    check_dropout_masks(fixture, seed, step);
    // With a draw, any Mixup alpha: the given draw replaces the sampler's.
    let draw = fixture.mixup_draw();
    let trainer = Trainer::new(gpu, network, &fixture.sgd(), if draw.is_some() { 1.0 } else { 0.0 }, seed).unwrap();
    trainer.prepare_train_step(fixture.tensor("input"), &fixture.labels(), fixture.setting("lr"), step as u64).unwrap();
    if let Some((lambda, perm)) = &draw {
        trainer.set_mixup_draw(*lambda, perm).unwrap();
    }
    let mut recorder = Recorder::new(gpu);
    trainer.record_train_step(&mut recorder);
    recorder.submit().unwrap();
    let loss = trainer.take_totals().unwrap().mean_loss();
    let network = &trainer.network;

    let (ours, theirs) = (download(gpu, &network.logits().value), fixture.f64s("logits"));
    worst.check("logits", "training logits", relative_to_largest(&ours, &theirs), FORWARD);
    // d loss / d z has an L1 norm of at most 2 per row (softmax minus a probability vector),
    // so the loss moves by at most twice the largest logit difference, plus the f32
    // rounding of 10-term log-sum-exps and their mean (a few u of the loss).
    let largest = minus(&ours, &theirs).iter().fold(0.0f64, |m, d| m.max(d.abs()));
    let their_loss = fixture.f64s("loss")[0];
    worst.check("loss", "loss", (loss - their_loss).abs(), 2.0 * largest + 64.0 * U * their_loss);

    for param in network.params() {
        check_gradient(fixture, torch_name(names, &param.name), &download(gpu, param.grad()), worst);
    }
    let after = state::snapshot(gpu, network).unwrap();
    for name in names {
        check_change(fixture, name, &after, worst);
    }
}

/// The fixture's network, with weights of its own (seed 0).
fn build(gpu: &Gpu, fixture: &Fixture) -> Network {
    let rng = &mut StdRng::seed_from_u64(0);
    models::build(gpu, fixture.model(), fixture.input(), fixture.setting("width"), TrainActivation::Exact, rng).unwrap()
}

fn check_case(case: &str) {
    let fixture = Fixture::load(case);
    let gpu = Gpu::from_env().unwrap();
    let (model, network) = (fixture.model(), build(&gpu, &fixture));
    let names = tensor_names(model.kind, &network);
    let checkpoint = restore(&gpu, &fixture, &network, &names);
    let mut worst = Worst::default();
    // Evaluation first: it leaves the weights and statistics as they were.
    check_pann(&gpu, &fixture, &network, &checkpoint, &mut worst);
    check_step(&gpu, &fixture, network, &names, &mut worst);
    worst.print(case);
}

#[test]
fn resnet20_with_option_a_shortcuts_steps_as_pytorch() {
    check_case("resnet20_a");
}

#[test]
fn resnet20_with_option_b_shortcuts_steps_as_pytorch() {
    check_case("resnet20_b");
}

#[test]
fn vgg11_with_dropout_steps_as_pytorch() {
    check_case("vgg11");
}

#[test]
fn smallcnn_with_mixup_steps_as_pytorch() {
    check_case("smallcnn");
}

#[test]
fn a_given_mixup_draw_is_a_permutation_of_the_batch_and_needs_mixup() {
    let fixture = Fixture::load("smallcnn");
    let gpu = Gpu::from_env().unwrap();
    let (lambda, perm) = fixture.mixup_draw().unwrap();
    let trainer = Trainer::new(&gpu, build(&gpu, &fixture), &fixture.sgd(), 1.0, 0).unwrap();
    trainer.set_mixup_draw(lambda, &perm).unwrap();
    for (lambda, perm) in [(lambda, &[0, 0, 1, 2][..]), (lambda, &[0, 1, 2]), (lambda, &[0, 1, 2, 4]), (1.5, &perm)] {
        let error = trainer.set_mixup_draw(lambda, perm).unwrap_err().to_string();
        assert!(error.contains("not a permutation of 0..4") || error.contains("not in [0, 1]"), "{error}");
    }
    let without = Trainer::new(&gpu, build(&gpu, &fixture), &fixture.sgd(), 0.0, 0).unwrap();
    let error = without.set_mixup_draw(lambda, &perm).unwrap_err().to_string();
    assert!(error.contains("without Mixup"), "{error}");
}
