use sturdy::gpu::{shader_constant, Dispatch, Tensor};
use sturdy::ops;
use sturdy::ops::batchnorm::{self as bn, BatchNormOptions, BatchNormShape, BatchNormTensors, Residual};
use sturdy::ops::calibrate::Measure;
use sturdy::reference::batchnorm as reference;

use crate::harness::*;

// ---------------------------------------------------------------------------------------
// Error bounds. Every kernel output is compared with the f64 reference under a bound built
// element by element from a first-order model of f32 rounding, then taken as a relative
// norm: if |gpu_i - ref_i| <= b_i for all i, then ||gpu - ref|| / ||ref|| <= ||b|| / ||ref||.
//
// Rounding: u = F32_UNIT_ROUNDOFF per +, -, *; WGSL allows 2.5 ULP (5u) for division and
// 2 ULP (4u) for inverseSqrt. A per-channel sum adds each value into a per-invocation
// accumulator (ceil(M / 64) terms) and then through two levels of 8 sequential additions
// (64 invocations), so a value goes through at most h = ceil(M / 64) + 14 additions
// (ceil(M / 256) + 2 + 14 where planes are read four values at a time: `depth`) and the
// sum errs by at most sum_bound(h) * sum(|terms|) (Higham's bound, any order of additions).
//
// The model keeps first-order terms only and takes |xhat|, |y|... at their exact values;
// SAFETY = 2 covers the dropped second-order terms (products of two O(u) errors, and
// O(u) differences between computed and exact magnitudes).
// ---------------------------------------------------------------------------------------

const U: f64 = F32_UNIT_ROUNDOFF;
const DIV: f64 = 5.0 * U;
const INV_SQRT: f64 = 4.0 * U;
const SAFETY: f64 = 2.0;
const WORKGROUP: usize = 64;

/// ||bounds|| / ||expected||, times SAFETY: the relative-error bound for assert_close.
fn relative_bound(bounds: &[f64], expected: &[f64]) -> f64 {
    let norm = |v: &[f64]| v.iter().map(|b| b * b).sum::<f64>().sqrt();
    let expected_norm = norm(expected);
    SAFETY * if expected_norm == 0.0 { norm(bounds) } else { norm(bounds) / expected_norm }
}

/// Depth of the per-channel summation (see above); planes of a multiple of four values
/// are summed four at a time into four partial sums, added pairwise at the end
/// (shaders/batchnorm.wgsl).
fn depth(shape: BatchNormShape) -> usize {
    let per_invocation = match shape.spatial % 4 {
        0 => shape.count().div_ceil(4 * WORKGROUP) + 2,
        _ => shape.count().div_ceil(WORKGROUP),
    };
    // tree_reduce: FAN values added in turn, twice (shaders/common/grid.wgsl).
    let fan = shader_constant("batchnorm", "FAN").unwrap();
    per_invocation + 2 * (fan - 1)
}

fn channel_of(shape: BatchNormShape, i: usize) -> usize {
    (i / shape.spatial) % shape.channels
}

fn channel_values(shape: BatchNormShape, v: &[f64], c: usize) -> impl Iterator<Item = f64> + '_ {
    (0..v.len()).filter(move |&i| channel_of(shape, i) == c).map(move |i| v[i])
}

/// Bounds on the errors of training forward's statistics, per channel.
struct StatsModel {
    mean: Vec<f64>,
    var: Vec<f64>,
    inv_std: Vec<f64>,
    /// |computed mean - mean|
    e_mean: Vec<f64>,
    /// |computed biased variance - variance|
    e_var: Vec<f64>,
    /// relative error of the computed inv_std
    rho: Vec<f64>,
}

impl StatsModel {
    fn new(shape: BatchNormShape, x: &[f64], eps: f64) -> StatsModel {
        let stats = reference::batch_stats(shape, x);
        let inv_std = reference::inv_std(&stats.var, eps);
        let m = shape.count() as f64;
        let h = depth(shape);
        let (mut e_mean, mut e_var, mut rho) = (vec![], vec![], vec![]);
        for c in 0..shape.channels {
            let (mean, var) = (stats.mean[c], stats.var[c]);
            // Sum of the values, then a division.
            let mean_abs = channel_values(shape, x, c).map(f64::abs).sum::<f64>() / m;
            let em = sum_bound(h) * mean_abs + DIV * mean.abs();
            // Squared deviations from the computed mean sum to M * (var + em^2) exactly;
            // each deviation is one subtraction, then the sum and a division.
            let theta = sum_bound(h + 1) + DIV;
            let ev = var * theta + em * em;
            // var + eps: one addition; inverseSqrt halves the relative error of its input.
            e_mean.push(em);
            e_var.push(ev);
            rho.push(0.5 * (ev / (var + eps) + U) + INV_SQRT);
        }
        StatsModel { mean: stats.mean, var: stats.var, inv_std, e_mean, e_var, rho }
    }

    /// The model of inference's statistics, the running ones: exact, so no mean error;
    /// inv_std from one addition and inverseSqrt.
    fn running(mean: &[f64], var: &[f64], eps: f64) -> StatsModel {
        let channels = mean.len();
        StatsModel {
            mean: mean.to_vec(),
            var: var.to_vec(),
            inv_std: reference::inv_std(var, eps),
            e_mean: vec![0.0; channels],
            e_var: vec![0.0; channels],
            rho: vec![0.5 * U + INV_SQRT; channels],
        }
    }

    /// Bound on |computed xhat_i - xhat_i|, xhat = (x - mean) * inv_std: the mean's error
    /// scaled by inv_std, inv_std's relative error, a subtraction and a product.
    fn xhat_error(&self, shape: BatchNormShape, x: &[f64], i: usize) -> f64 {
        let c = channel_of(shape, i);
        let xhat = (x[i] - self.mean[c]) * self.inv_std[c];
        self.inv_std[c] * self.e_mean[c] + xhat.abs() * (self.rho[c] + 2.0 * U)
    }
}

/// Bounds on |y_i| errors of y = gamma * xhat + beta (one product, one addition).
fn normalize_bounds(shape: BatchNormShape, model: &StatsModel, x: &[f64], gamma: &[f64], y: &[f64]) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let c = channel_of(shape, i);
            let xhat = (x[i] - model.mean[c]) * model.inv_std[c];
            gamma[c].abs() * (model.xhat_error(shape, x, i) + U * xhat.abs()) + U * y[i].abs()
        })
        .collect()
}

/// How many of `values` lie within SAFETY times their error `bounds` of 0: where a kernel's
/// cut at 0 on its f32 values could fall on the other side.
fn within_rounding_of_zero(values: &[f64], bounds: &[f64]) -> usize {
    values.iter().zip(bounds).filter(|(v, b)| v.abs() <= SAFETY * **b).count()
}

/// The first of `draw`'s data that `fits`: data with the property a check needs (clear of a
/// kernel's cut at 0, reaching it) by construction, since each run draws with a fresh seed.
/// Misfits are rare (the bounds are a few units of roundoff), so one or two draws in practice.
fn draw_until<T>(case: &mut Case, mut draw: impl FnMut(&mut Case) -> T, fits: impl Fn(&T) -> bool) -> T {
    const DRAWS: usize = 100;
    for _ in 0..DRAWS {
        let data = draw(case);
        if fits(&data) {
            return data;
        }
    }
    panic!("{}: none of {DRAWS} draws fits", case.context())
}

/// Bound on a running-statistic update r' = (1 - m) * r + m * b (r with error e_r, b with
/// error e_b): the propagated errors plus four roundings (1 - m, two products, the sum).
fn running_bound(momentum: f64, r: f64, e_r: f64, b: f64, e_b: f64) -> f64 {
    (1.0 - momentum) * e_r + momentum * e_b + 4.0 * U * ((1.0 - momentum) * r.abs() + momentum * b.abs())
}

/// Running statistics advanced by one training step, with their error bounds.
struct Running {
    mean: Vec<f64>,
    var: Vec<f64>,
    e_mean: Vec<f64>,
    e_var: Vec<f64>,
}

impl Running {
    fn new(mean: Vec<f64>, var: Vec<f64>) -> Running {
        let zeros = vec![0.0; mean.len()];
        Running { mean, var, e_mean: zeros.clone(), e_var: zeros }
    }

    fn step(&mut self, shape: BatchNormShape, model: &StatsModel, momentum: f64) {
        let stats = reference::BatchStats { mean: model.mean.clone(), var: model.var.clone() };
        let (old_mean, old_var) = (self.mean.clone(), self.var.clone());
        reference::update_running(shape, &stats, momentum, &mut self.mean, &mut self.var);
        let m = shape.count() as f64;
        for c in 0..shape.channels {
            self.e_mean[c] = running_bound(momentum, old_mean[c], self.e_mean[c], model.mean[c], model.e_mean[c]);
            // Unbiased variance: var * (M / (M - 1)), a division and a product.
            let unbiased = model.var[c] * m / (m - 1.0);
            let e_unbiased = model.e_var[c] * m / (m - 1.0) + unbiased * (DIV + U);
            self.e_var[c] = running_bound(momentum, old_var[c], self.e_var[c], unbiased, e_unbiased);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// One layer's per-channel tensors on the GPU: gamma, beta and running statistics random
/// (variances positive), outputs poisoned.
struct Layer {
    gamma: (Tensor, Vec<f64>),
    beta: (Tensor, Vec<f64>),
    running_mean: (Tensor, Vec<f64>),
    running_var: (Tensor, Vec<f64>),
    saved_mean: Tensor,
    saved_inv_std: Tensor,
    dgamma: Tensor,
    dbeta: Tensor,
}

impl Layer {
    fn new(case: &mut Case, channels: usize) -> Layer {
        let c = [channels];
        Layer {
            gamma: case.tensor(&c, 0.5, 1.5),
            beta: case.tensor(&c, -1.0, 1.0),
            running_mean: case.tensor(&c, -1.0, 1.0),
            running_var: case.tensor(&c, 0.5, 2.0),
            saved_mean: poisoned(&c),
            saved_inv_std: poisoned(&c),
            dgamma: poisoned(&c),
            dbeta: poisoned(&c),
        }
    }

    fn tensors(&self) -> BatchNormTensors<'_> {
        BatchNormTensors {
            gamma: &self.gamma.0,
            beta: &self.beta.0,
            running_mean: &self.running_mean.0,
            running_var: &self.running_var.0,
            saved_mean: &self.saved_mean,
            saved_inv_std: &self.saved_inv_std,
            dgamma: &self.dgamma,
            dbeta: &self.dbeta,
        }
    }
}

fn dims(shape: BatchNormShape, height: usize, width: usize) -> Vec<usize> {
    assert_eq!(height * width, shape.spatial);
    vec![shape.batch, shape.channels, height, width]
}

fn bn_shape(batch: usize, channels: usize, height: usize, width: usize) -> BatchNormShape {
    BatchNormShape { batch, channels, spatial: height * width }
}

fn run(dispatches: &[Dispatch]) {
    gpu().run(dispatches).unwrap();
}

/// (batch, channels, height, width): M = 175 (> 64, not a multiple), 3 (1x1 spatial),
/// 143, exactly 128 (a multiple of the workgroup), 2 (the smallest trainable), 12, 540
/// 640, 120 and 42. Planes of 64, 4, 60, 320 and 40 values take the per-element kernels'
/// vec4 forms (the second with 15 vec4s in all, a part of one workgroup), four, one, one,
/// four and two fours a thread; the others the scalar ones, runs of up to four values of a
/// plane a thread, the planes of 35, 1, 143 and 6 values ending in runs of 3, 1, 3 and 2.
/// Each invocation of a per-channel loop walks a run of consecutive values (or
/// fours) across plane boundaries: runs of 3 in planes of 35 values and of 80 fours (160
/// fours a channel), and runs of 3 ending on the boundaries of planes of 15 fours (135 a
/// channel).
const SHAPES: [(usize, usize, usize, usize); 10] = [
    (5, 3, 7, 5),
    (3, 4, 1, 1),
    (1, 2, 13, 11),
    (2, 3, 8, 8),
    (2, 1, 1, 1),
    (3, 5, 2, 2),
    (9, 2, 6, 10),
    (2, 3, 20, 16),
    (3, 2, 5, 8),
    (7, 3, 2, 3),
];

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[test]
fn default_options_are_pytorchs() {
    let options = BatchNormOptions::default();
    assert_eq!((options.momentum, options.eps, options.relu), (0.1, 1e-5, false));
}

/// Forward statistics, output and one running-statistics update, for centred inputs and
/// for inputs far from zero (offset 100, spread 1): there E[x^2] - E[x]^2 in f32 would lose
/// about 1e-2 of the variance (|E[x^2]| ~ 1e4 times h * u), far above the bounds here, which
/// for the two-pass algorithm only grow with the mean's error squared.
#[test]
fn training_forward_matches_reference() {
    let options = BatchNormOptions::default();
    let (momentum, eps) = (options.momentum as f64, options.eps as f64);
    for (batch, channels, height, width) in SHAPES {
        for (lo, hi) in [(-1.0, 1.0), (100.0, 101.0)] {
            let shape = bn_shape(batch, channels, height, width);
            let mut case = Case::new(format!("batchnorm forward_train {shape:?} x in [{lo}, {hi})"));
            let dims = dims(shape, height, width);
            let (x, x_ref) = case.tensor(&dims, lo, hi);
            let layer = Layer::new(&mut case, channels);
            let y = poisoned(&dims);
            run(&bn::forward_train(gpu(), shape, options, &x, &layer.tensors(), None, &y).unwrap());

            let model = StatsModel::new(shape, &x_ref, eps);
            let (gamma, beta) = (&layer.gamma.1, &layer.beta.1);
            let y_ref = reference::forward_train(shape, &x_ref, gamma, beta, eps);
            assert_close(
                &case,
                "y",
                &read(&y),
                &y_ref,
                relative_bound(&normalize_bounds(shape, &model, &x_ref, gamma, &y_ref), &y_ref),
            );
            assert_close(
                &case,
                "saved_mean",
                &read(&layer.saved_mean),
                &model.mean,
                relative_bound(&model.e_mean, &model.mean),
            );
            let e_inv_std: Vec<f64> = model.inv_std.iter().zip(&model.rho).map(|(s, r)| s * r).collect();
            assert_close(
                &case,
                "saved_inv_std",
                &read(&layer.saved_inv_std),
                &model.inv_std,
                relative_bound(&e_inv_std, &model.inv_std),
            );

            let mut running = Running::new(layer.running_mean.1.clone(), layer.running_var.1.clone());
            running.step(shape, &model, momentum);
            check_running(&case, &layer, &running);
        }
    }
}

/// The layer's running statistics against the f64 model's, each within its error bound.
fn check_running(case: &Case, layer: &Layer, running: &Running) {
    let mean = (&layer.running_mean.0, &running.mean, &running.e_mean);
    let var = (&layer.running_var.0, &running.var, &running.e_var);
    for (name, (tensor, expected, error)) in [("running_mean", mean), ("running_var", var)] {
        assert_close(case, name, &read(tensor), expected, relative_bound(error, expected));
    }
}

/// The same dispatches recorded for two steps on two batches: running statistics compound
/// both updates (with a momentum other than the default), saved statistics are the second
/// batch's.
#[test]
fn running_statistics_after_two_steps() {
    let options = BatchNormOptions { momentum: 0.3, eps: 1e-3, ..Default::default() };
    let (momentum, eps) = (options.momentum as f64, options.eps as f64);
    for (batch, channels, height, width) in [(5, 3, 7, 5), (3, 4, 1, 1)] {
        let shape = bn_shape(batch, channels, height, width);
        let mut case = Case::new(format!("batchnorm two steps {shape:?}"));
        let dims = dims(shape, height, width);
        let (first, first_ref) = case.uniform(shape.len(), -2.0, 3.0);
        let (second, second_ref) = case.uniform(shape.len(), -1.0, 1.0);
        let x = gpu().upload(&dims, &first).unwrap();
        let layer = Layer::new(&mut case, channels);
        let y = poisoned(&dims);
        let step = bn::forward_train(gpu(), shape, options, &x, &layer.tensors(), None, &y).unwrap();
        run(&step);
        gpu().write(&x, &second).unwrap();
        run(&step);

        let mut running = Running::new(layer.running_mean.1.clone(), layer.running_var.1.clone());
        running.step(shape, &StatsModel::new(shape, &first_ref, eps), momentum);
        let model = StatsModel::new(shape, &second_ref, eps);
        running.step(shape, &model, momentum);
        check_running(&case, &layer, &running);
        assert_close(
            &case,
            "saved_mean",
            &read(&layer.saved_mean),
            &model.mean,
            relative_bound(&model.e_mean, &model.mean),
        );
        let y_ref = reference::forward_train(shape, &second_ref, &layer.gamma.1, &layer.beta.1, eps);
        let bounds = normalize_bounds(shape, &model, &second_ref, &layer.gamma.1, &y_ref);
        assert_close(&case, "y", &read(&y), &y_ref, relative_bound(&bounds, &y_ref));
    }
}

/// Inference normalises with the running statistics and leaves them unchanged.
#[test]
fn inference_forward_uses_running_statistics() {
    let options = BatchNormOptions::default();
    let eps = options.eps as f64;
    for (batch, channels, height, width) in [(5, 3, 7, 5), (1, 2, 1, 1), (1, 3, 3, 1)] {
        let shape = bn_shape(batch, channels, height, width);
        let mut case = Case::new(format!("batchnorm forward_inference {shape:?}"));
        let dims = dims(shape, height, width);
        let (x, x_ref) = case.tensor(&dims, -2.0, 2.0);
        let layer = Layer::new(&mut case, channels);
        let y = poisoned(&dims);
        run(&[bn::forward_inference(gpu(), shape, options, &x, &layer.tensors(), None, &y).unwrap()]);

        let (rm, rv) = (&layer.running_mean.1, &layer.running_var.1);
        let (gamma, beta) = (&layer.gamma.1, &layer.beta.1);
        let y_ref = reference::forward_inference(shape, &x_ref, gamma, beta, rm, rv, eps);
        let model = StatsModel::running(rm, rv, eps);
        assert_close(
            &case,
            "y",
            &read(&y),
            &y_ref,
            relative_bound(&normalize_bounds(shape, &model, &x_ref, gamma, &y_ref), &y_ref),
        );
        assert_eq!(read(&layer.running_mean.0), *rm, "{}: running_mean changed", case.context());
        assert_eq!(read(&layer.running_var.0), *rv, "{}: running_var changed", case.context());
    }
}

/// Error bounds of backward (after the GPU's forward), per element of dx, dgamma, dbeta.
struct BackwardBounds {
    dx: Vec<f64>,
    dgamma: Vec<f64>,
    dbeta: Vec<f64>,
}

fn backward_bounds(
    shape: BatchNormShape,
    model: &StatsModel,
    x: &[f64],
    dy: &[f64],
    gamma: &[f64],
    grads: &reference::Gradients,
) -> BackwardBounds {
    let h = depth(shape);
    let m = shape.count() as f64;
    let xhat = |i: usize| (x[i] - model.mean[channel_of(shape, i)]) * model.inv_std[channel_of(shape, i)];
    let on = |c: usize| (0..x.len()).filter(move |&i| channel_of(shape, i) == c);
    // dbeta = sum(dy): the sum's rounding. dgamma = sum(dy * xhat): each xhat's error
    // weighted by |dy|, and the sum's rounding (sum_bound includes the product's).
    let dbeta: Vec<f64> = (0..shape.channels).map(|c| sum_bound(h) * on(c).map(|i| dy[i].abs()).sum::<f64>()).collect();
    let dgamma: Vec<f64> = (0..shape.channels)
        .map(|c| {
            on(c).map(|i| dy[i].abs() * model.xhat_error(shape, x, i) + sum_bound(h) * (dy[i] * xhat(i)).abs()).sum()
        })
        .collect();
    // dx = k * t, k = gamma * inv_std / M (inv_std's error, a product, a division),
    // t = M dy - dbeta - xhat dgamma (the errors of dbeta, dgamma and xhat, and four
    // roundings: M * dy, the product, two subtractions).
    let dx = (0..x.len())
        .map(|i| {
            let c = channel_of(shape, i);
            let k = gamma[c] * model.inv_std[c] / m;
            let (db, dg) = (grads.dbeta[c], grads.dgamma[c]);
            let e_t = dbeta[c]
                + xhat(i).abs() * dgamma[c]
                + model.xhat_error(shape, x, i) * dg.abs()
                + 4.0 * U * (m * dy[i].abs() + db.abs() + (xhat(i) * dg).abs());
            k.abs() * e_t + grads.dx[i].abs() * (model.rho[c] + U + DIV + U)
        })
        .collect();
    BackwardBounds { dx, dgamma, dbeta }
}

/// (dx, dgamma, dbeta) as read back.
type Gradients = (Vec<f64>, Vec<f64>, Vec<f64>);

/// Runs training forward then backward on the GPU with dy given; returns (dx, dgamma, dbeta).
fn gpu_backward(shape: BatchNormShape, dims: &[usize], x: &Tensor, dy: &Tensor, layer: &Layer) -> Gradients {
    gpu_backward_with(BatchNormOptions::default(), shape, dims, x, dy, layer).1
}

/// [`gpu_backward`] with `options`; also returns the forward's output.
fn gpu_backward_with(
    options: BatchNormOptions,
    shape: BatchNormShape,
    dims: &[usize],
    x: &Tensor,
    dy: &Tensor,
    layer: &Layer,
) -> (Vec<f64>, Gradients) {
    let y = poisoned(dims);
    let dx = poisoned(dims);
    let mut dispatches = bn::forward_train(gpu(), shape, options, x, &layer.tensors(), None, &y).unwrap();
    dispatches.extend(bn::backward(gpu(), shape, options, x, dy, &layer.tensors(), &dx).unwrap());
    run(&dispatches);
    (read(&y), (read(&dx), read(&layer.dgamma), read(&layer.dbeta)))
}

/// The fused ReLU: forward writes relu(y), within y's bound (ReLU is 1-Lipschitz); backward
/// is batch norm's backward fed dy where y > 0 and zero elsewhere, within that bound. The
/// kernels decide y > 0 on their f32 y, so x is drawn until every y lies farther from 0
/// than its error bound (`draw_until`), and that is checked.
#[test]
fn fused_relu_matches_relu_of_the_reference() {
    let options = BatchNormOptions { relu: true, ..Default::default() };
    let eps = options.eps as f64;
    for (batch, channels, height, width) in SHAPES.into_iter().filter(|s| s.0 * s.2 * s.3 > 2) {
        let shape = bn_shape(batch, channels, height, width);
        let mut case = Case::new(format!("batchnorm fused relu {shape:?}"));
        let dims = dims(shape, height, width);
        let layer = Layer::new(&mut case, channels);
        let (gamma, beta) = (&layer.gamma.1, &layer.beta.1);
        let y_and_bounds = |x_ref: &[f64]| {
            let y_ref = reference::forward_train(shape, x_ref, gamma, beta, eps);
            let y_bounds = normalize_bounds(shape, &StatsModel::new(shape, x_ref, eps), x_ref, gamma, &y_ref);
            (y_ref, y_bounds)
        };
        let (x_values, x_ref) = draw_until(
            &mut case,
            |case| case.uniform(shape.len(), -1.0, 1.0),
            |(_, x_ref)| {
                let (y_ref, y_bounds) = y_and_bounds(x_ref);
                within_rounding_of_zero(&y_ref, &y_bounds) == 0
            },
        );
        let x = gpu().upload(&dims, &x_values).unwrap();
        let (dy, dy_ref) = case.tensor(&dims, -1.0, 1.0);
        let (relu_y, (dx, dgamma, dbeta)) = gpu_backward_with(options, shape, &dims, &x, &dy, &layer);

        let model = StatsModel::new(shape, &x_ref, eps);
        let (y_ref, y_bounds) = y_and_bounds(&x_ref);
        let ambiguous = within_rounding_of_zero(&y_ref, &y_bounds);
        assert_eq!(ambiguous, 0, "{}: {ambiguous} values of y within rounding of 0", case.context());
        let relu_ref: Vec<f64> = y_ref.iter().map(|y| y.max(0.0)).collect();
        assert_close(&case, "relu(y)", &relu_y, &relu_ref, relative_bound(&y_bounds, &relu_ref));

        let passed: Vec<f64> = dy_ref.iter().zip(&y_ref).map(|(g, y)| if *y > 0.0 { *g } else { 0.0 }).collect();
        let grads = reference::backward(shape, &x_ref, &passed, gamma, &model.mean, &model.inv_std);
        let bounds = backward_bounds(shape, &model, &x_ref, &passed, gamma, &grads);
        assert_close(&case, "dx", &dx, &grads.dx, relative_bound(&bounds.dx, &grads.dx));
        assert_close(&case, "dgamma", &dgamma, &grads.dgamma, relative_bound(&bounds.dgamma, &grads.dgamma));
        assert_close(&case, "dbeta", &dbeta, &grads.dbeta, relative_bound(&bounds.dbeta, &grads.dbeta));
    }
}

/// A fused residual sum (a residual block's bn2, sum and relu2): training and inference
/// forward write y + r, or relu(y + r) with the fused ReLU, for a residual r of x's shape.
/// Each within y's bound plus one rounding of the sum (u |y + r|; ReLU is 1-Lipschitz).
/// The kernels cut on their f32 sum, so r is drawn until every sum with either forward's y
/// lies farther from 0 than its bound and some sum lies below it (`draw_until`): both
/// checked. Training forward measuring the sum for the site after it raises the site's
/// running max to the max |sum| of what it wrote (exact: the same f32 values), other sites
/// untouched; a larger running max stays.
#[test]
fn fused_residual_is_added_before_the_relu() {
    const SITE: usize = 1;
    for (relu, measuring) in [(false, false), (true, false), (false, true)] {
        let options = BatchNormOptions { relu, ..Default::default() };
        let eps = options.eps as f64;
        for (batch, channels, height, width) in SHAPES.into_iter().filter(|s| s.0 * s.2 * s.3 > 2) {
            let shape = bn_shape(batch, channels, height, width);
            let mut case =
                Case::new(format!("batchnorm fused residual, relu {relu}, measuring {measuring}, {shape:?}"));
            let dims = dims(shape, height, width);
            let (x, x_ref) = case.tensor(&dims, -1.0, 1.0);
            let layer = Layer::new(&mut case, channels);
            let (gamma, beta) = (&layer.gamma.1, &layer.beta.1);
            let (rm, rv) = (&layer.running_mean.1, &layer.running_var.1);
            let batch_model = StatsModel::new(shape, &x_ref, eps);
            let running_model = StatsModel::running(rm, rv, eps);
            let batch_y = reference::forward_train(shape, &x_ref, gamma, beta, eps);
            let running_y = reference::forward_inference(shape, &x_ref, gamma, beta, rm, rv, eps);
            let references = [("train y", &batch_model, &batch_y), ("eval y", &running_model, &running_y)];
            // Each sum y + r and its bound: y's bound plus one rounding of the sum.
            let sums_and_bounds = |model: &StatsModel, y_ref: &[f64], r_ref: &[f64]| {
                let sum: Vec<f64> = y_ref.iter().zip(r_ref).map(|(y, r)| y + r).collect();
                let y_bounds = normalize_bounds(shape, model, &x_ref, gamma, y_ref);
                let bounds: Vec<f64> = y_bounds.iter().zip(&sum).map(|(b, s)| b + U * s.abs()).collect();
                (sum, bounds)
            };
            let (r_values, r_ref) = draw_until(
                &mut case,
                |case| case.uniform(shape.len(), -1.0, 1.0),
                |(_, r_ref)| {
                    references.iter().all(|(_, model, y_ref)| {
                        let (sum, bounds) = sums_and_bounds(model, y_ref, r_ref);
                        within_rounding_of_zero(&sum, &bounds) == 0 && sum.iter().any(|s| *s < 0.0)
                    })
                },
            );
            let r = gpu().upload(&dims, &r_values).unwrap();
            let (train_y, eval_y) = (poisoned(&dims), poisoned(&dims));
            let max_abs = gpu().upload(&[3], &[7.0f32, 0.0, 7.0]).unwrap();
            let measure = measuring.then_some(Measure { site: SITE as u32, max_abs: &max_abs });
            // Inference first: it reads the running statistics that training forward updates.
            let tensors = layer.tensors();
            let eval = bn::forward_inference(gpu(), shape, options, &x, &tensors, Some(&r), &eval_y).unwrap();
            let residual = Residual { value: &r, measure };
            let train = bn::forward_train(gpu(), shape, options, &x, &tensors, Some(residual), &train_y).unwrap();
            run(&[vec![eval], train].concat());
            if measuring {
                let written = read(&train_y).iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let measured = read(&max_abs);
                assert_eq!(measured[SITE], written, "{}: the running max of the sum", case.context());
                assert_eq!((measured[0], measured[2]), (7.0, 7.0), "{}: other sites untouched", case.context());
                let larger = gpu().upload(&[3], &[0.0f32, 1e6, 0.0]).unwrap();
                let residual = Residual { value: &r, measure: Some(Measure { site: SITE as u32, max_abs: &larger }) };
                let (scratch, tensors) = (poisoned(&dims), layer.tensors());
                run(&bn::forward_train(gpu(), shape, options, &x, &tensors, Some(residual), &scratch).unwrap());
                assert_eq!(read(&larger)[SITE], 1e6, "{}: a larger running max stays", case.context());
            }

            for ((name, model, y_ref), tensor) in references.into_iter().zip([&train_y, &eval_y]) {
                let (sum, bounds) = sums_and_bounds(model, y_ref, &r_ref);
                let expected: Vec<f64> = sum.iter().map(|s| if relu { s.max(0.0) } else { *s }).collect();
                if relu {
                    let ambiguous = within_rounding_of_zero(&sum, &bounds);
                    assert_eq!(ambiguous, 0, "{}: {ambiguous} sums within rounding of 0", case.context());
                    assert!(sum.iter().any(|s| *s < 0.0), "{}: the data must reach the cut", case.context());
                }
                assert_close(&case, name, &read(tensor), &expected, relative_bound(&bounds, &expected));
            }
        }
    }
}

/// `statistics` with a site to measure: the same saved statistics as training forward,
/// and the site's running max |y| raised to the max |y| of training forward's y (as
/// calibration measures it from y), other sites untouched. Both come from the same f32
/// operations on the channel's extreme value (rounding is monotone, so the extreme input
/// gives the extreme output), differing at most by a contraction into a fused multiply-add
/// in one kernel and not the other: 2 u relative. A larger running max stays; a NaN input
/// makes it NaN, as calibration does.
#[test]
fn statistics_measure_the_running_max_of_the_output() {
    const SITE: u32 = 1;
    let options = BatchNormOptions::default();
    for (batch, channels, height, width) in SHAPES {
        let shape = bn_shape(batch, channels, height, width);
        let mut case = Case::new(format!("batchnorm statistics measuring {shape:?}"));
        let dims = dims(shape, height, width);
        let (x, _) = case.tensor(&dims, -3.0, 3.0);
        let layer = Layer::new(&mut case, channels);
        let y = poisoned(&dims);
        let calibrated = gpu().zeros(&[3]).unwrap();
        let mut dispatches = bn::forward_train(gpu(), shape, options, &x, &layer.tensors(), None, &y).unwrap();
        dispatches.push(ops::calibrate::running_max_abs(gpu(), SITE, &y, &calibrated).unwrap());
        run(&dispatches);
        let saved = (read(&layer.saved_mean), read(&layer.saved_inv_std));
        let expected = read(&calibrated)[SITE as usize];

        let measured = gpu().upload(&[3], &[7.0f32, 0.0, 7.0]).unwrap();
        let measure = Measure { site: SITE, max_abs: &measured };
        run(&[bn::statistics(gpu(), shape, options, &x, &layer.tensors(), Some(measure)).unwrap()]);
        assert_eq!((read(&layer.saved_mean), read(&layer.saved_inv_std)), saved, "{}", case.context());
        let max_abs = read(&measured);
        assert_eq!((max_abs[0], max_abs[2]), (7.0, 7.0), "{}: other sites untouched", case.context());
        let error = (max_abs[1] - expected).abs();
        assert!(
            error <= 2.0 * U * expected,
            "{}: measured max |y| {} against calibration's {expected}",
            case.context(),
            max_abs[1]
        );

        let larger = gpu().upload(&[3], &[0.0f32, 1e6, 0.0]).unwrap();
        let measure = Measure { site: SITE, max_abs: &larger };
        run(&[bn::statistics(gpu(), shape, options, &x, &layer.tensors(), Some(measure)).unwrap()]);
        assert_eq!(read(&larger)[1], 1e6, "{}: a larger running max stays", case.context());
    }
    let mut case = Case::new("batchnorm statistics measuring NaN");
    let dims = [2, 3, 2, 2];
    let mut values = case.uniform(24, -1.0, 1.0).0;
    values[5] = f32::NAN;
    let x = gpu().upload(&dims, &values).unwrap();
    let layer = Layer::new(&mut case, 3);
    let measured = gpu().zeros(&[1]).unwrap();
    let measure = Measure { site: 0, max_abs: &measured };
    run(&[bn::statistics(gpu(), bn_shape(2, 3, 2, 2), options, &x, &layer.tensors(), Some(measure)).unwrap()]);
    assert!(read(&measured)[0].is_nan(), "a NaN input makes the running max NaN");
}

#[test]
fn backward_matches_reference() {
    let eps = BatchNormOptions::default().eps as f64;
    for (batch, channels, height, width) in SHAPES {
        let shape = bn_shape(batch, channels, height, width);
        let mut case = Case::new(format!("batchnorm backward {shape:?}"));
        let dims = dims(shape, height, width);
        let (x, x_ref) = case.tensor(&dims, -1.0, 1.0);
        let (dy, dy_ref) = case.tensor(&dims, -1.0, 1.0);
        let layer = Layer::new(&mut case, channels);
        let (dx, dgamma, dbeta) = gpu_backward(shape, &dims, &x, &dy, &layer);

        let model = StatsModel::new(shape, &x_ref, eps);
        let gamma = &layer.gamma.1;
        let grads = reference::backward(shape, &x_ref, &dy_ref, gamma, &model.mean, &model.inv_std);
        let bounds = backward_bounds(shape, &model, &x_ref, &dy_ref, gamma, &grads);
        assert_close(&case, "dx", &dx, &grads.dx, relative_bound(&bounds.dx, &grads.dx));
        assert_close(&case, "dgamma", &dgamma, &grads.dgamma, relative_bound(&bounds.dgamma, &grads.dgamma));
        assert_close(&case, "dbeta", &dbeta, &grads.dbeta, relative_bound(&bounds.dbeta, &grads.dbeta));
    }
}

/// Central differences of L = <forward_train_ref(x, gamma, beta), r> (f64) against the
/// GPU's backward fed dy = r. Their error is h^2 / 6 * |L'''| (truncation) plus about
/// 1e-16 * |L| / h (rounding); with h = 1e-5, |L| < 1e2 and inputs spread so every channel's
/// variance is above 0.1 (so L''' ~ inv_std^3 stays O(10)), both stay below 1e-8 relative:
/// FINITE_DIFFERENCE = 1e-7 allows for it on top of the GPU's own bound.
const STEP: f64 = 1e-5;
const FINITE_DIFFERENCE: f64 = 1e-7;

#[test]
fn backward_matches_finite_differences() {
    let eps = BatchNormOptions::default().eps as f64;
    for (batch, channels, height, width) in [(3, 2, 1, 1), (2, 3, 3, 1), (5, 2, 7, 5)] {
        let shape = bn_shape(batch, channels, height, width);
        let mut case = Case::new(format!("batchnorm gradient check {shape:?}"));
        let dims = dims(shape, height, width);
        // Noise around a ramp over the batch: every channel's variance is at least ~0.2.
        let (noise, _) = case.uniform(shape.len(), -0.3, 0.3);
        let x_values: Vec<f32> =
            noise.iter().enumerate().map(|(i, v)| v + (i / (channels * shape.spatial)) as f32 - 1.0).collect();
        let x_ref: Vec<f64> = x_values.iter().map(|&v| v as f64).collect();
        let x = gpu().upload(&dims, &x_values).unwrap();
        let (r, r_ref) = case.tensor(&dims, -1.0, 1.0);
        let layer = Layer::new(&mut case, channels);
        let (gamma, beta) = (layer.gamma.1.clone(), layer.beta.1.clone());
        let (dx, dgamma, dbeta) = gpu_backward(shape, &dims, &x, &r, &layer);

        let model = StatsModel::new(shape, &x_ref, eps);
        let grads = reference::backward(shape, &x_ref, &r_ref, &gamma, &model.mean, &model.inv_std);
        let bounds = backward_bounds(shape, &model, &x_ref, &r_ref, &gamma, &grads);
        let loss =
            |x: &[f64], gamma: &[f64], beta: &[f64]| dot(&reference::forward_train(shape, x, gamma, beta, eps), &r_ref);
        let numeric_dx = numerical_gradient(|x| loss(x, &gamma, &beta), &x_ref, STEP);
        let numeric_dgamma = numerical_gradient(|g| loss(&x_ref, g, &beta), &gamma, STEP);
        let numeric_dbeta = numerical_gradient(|b| loss(&x_ref, &gamma, b), &beta, STEP);
        let bound = |b: &[f64], g: &[f64]| relative_bound(b, g) + FINITE_DIFFERENCE;
        assert_close(&case, "dx vs finite differences", &dx, &numeric_dx, bound(&bounds.dx, &numeric_dx));
        assert_close(
            &case,
            "dgamma vs finite differences",
            &dgamma,
            &numeric_dgamma,
            bound(&bounds.dgamma, &numeric_dgamma),
        );
        assert_close(
            &case,
            "dbeta vs finite differences",
            &dbeta,
            &numeric_dbeta,
            bound(&bounds.dbeta, &numeric_dbeta),
        );
    }
}

#[test]
fn bad_shapes_are_rejected() {
    let options = BatchNormOptions::default();
    let shape = bn_shape(2, 3, 4, 5);
    let mut case = Case::new("batchnorm shapes");
    let layer = Layer::new(&mut case, 3);
    let x = gpu().zeros(&[2, 3, 4, 5]).unwrap();
    let y = gpu().zeros(&[2, 3, 4, 5]).unwrap();
    let message = |r: sturdy::gpu::Result<Vec<Dispatch>>| r.err().expect("bad shape must fail").to_string();

    let wrong_y = gpu().zeros(&[2, 3, 5, 5]).unwrap();
    let error = message(bn::forward_train(gpu(), shape, options, &x, &layer.tensors(), None, &wrong_y));
    assert!(error.contains("forward_train") && error.contains("y has shape [2, 3, 5, 5]"), "{error}");

    let residual = Residual { value: &wrong_y, measure: None };
    let error = message(bn::forward_train(gpu(), shape, options, &x, &layer.tensors(), Some(residual), &y));
    assert!(error.contains("forward_train") && error.contains("residual has shape [2, 3, 5, 5]"), "{error}");
    let max_abs = gpu().zeros(&[2]).unwrap();
    let residual = Residual { value: &x, measure: Some(Measure { site: 2, max_abs: &max_abs }) };
    let error = message(bn::forward_train(gpu(), shape, options, &x, &layer.tensors(), Some(residual), &y));
    assert!(error.contains("forward_train") && error.contains("max_abs"), "{error}");
    let error = bn::forward_inference(gpu(), shape, options, &x, &layer.tensors(), Some(&wrong_y), &y).err();
    assert!(error.expect("must fail").to_string().contains("residual has shape"));

    let wide_gamma = gpu().zeros(&[4]).unwrap();
    let tensors = BatchNormTensors { gamma: &wide_gamma, ..layer.tensors() };
    let error = message(bn::forward_train(gpu(), shape, options, &x, &tensors, None, &y));
    assert!(error.contains("gamma has shape [4], expected [3]"), "{error}");
    let error =
        bn::forward_inference(gpu(), shape, options, &x, &tensors, None, &y).err().expect("must fail").to_string();
    assert!(error.contains("forward_inference") && error.contains("gamma"), "{error}");

    let wrong_dy = gpu().zeros(&[2, 4, 4, 5]).unwrap();
    let error = message(bn::backward(gpu(), shape, options, &x, &wrong_dy, &layer.tensors(), &y));
    assert!(error.contains("backward") && error.contains("dy has shape [2, 4, 4, 5]"), "{error}");

    // One value per channel has no unbiased variance: training refuses, inference works.
    let single = bn_shape(1, 3, 1, 1);
    let (x1, y1) = (gpu().zeros(&[1, 3, 1, 1]).unwrap(), gpu().zeros(&[1, 3]).unwrap());
    let error = message(bn::forward_train(gpu(), single, options, &x1, &layer.tensors(), None, &y1));
    assert!(error.contains("batch * spatial >= 2"), "{error}");
    assert!(bn::forward_inference(gpu(), single, options, &x1, &layer.tensors(), None, &y1).is_ok());
}
