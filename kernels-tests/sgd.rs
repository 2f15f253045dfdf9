use sturdy::ops::sgd::Sgd;
use sturdy::{ops, reference};

use crate::harness::*;

const U: f64 = F32_UNIT_ROUNDOFF;
/// The error model below is first order (it drops products of roundings); the factor 2
/// covers them. A fused multiply-add only removes roundings.
const SAFETY: f64 = 2.0;

/// Learning rates of consecutive steps: the buffer is rewritten before each one.
const RATES: [f32; 4] = [0.1, 0.05, 0.2, 0.01];

/// Worst-case absolute errors of the f32 weight and velocity, carried along the f64
/// reference step by step. Each operation of the kernel rounds once, by u times its result:
///   g = grad + wd w           wd * e_w + u |wd w| + u |g|
///   v = mu v + g              mu e_v + e_g + u |mu v| + u |v'|
///   d = g + mu v' (Nesterov)  e_g + mu e_v' + u |mu v'| + u |d|   (else d = v', e_d = e_v')
///   w = w - lr d              e_w + lr e_d + u |lr d| + u |w'|
struct ErrorModel {
    weight: Vec<f64>,
    velocity: Vec<f64>,
}

impl ErrorModel {
    fn step(&mut self, config: &reference::sgd::Sgd, lr: f64, grad: &[f64], weight: &[f64], velocity: &[f64]) {
        let (mu, wd) = (config.momentum, config.weight_decay);
        for i in 0..grad.len() {
            let (w, v) = (weight[i], velocity[i]);
            let g = grad[i] + wd * w;
            let e_g = wd * self.weight[i] + U * (wd * w).abs() + U * g.abs();
            let v_next = mu * v + g;
            let e_v = mu * self.velocity[i] + e_g + U * (mu * v).abs() + U * v_next.abs();
            let (d, e_d) = if config.nesterov {
                let d = g + mu * v_next;
                (d, e_g + mu * e_v + U * (mu * v_next).abs() + U * d.abs())
            } else {
                (v_next, e_v)
            };
            self.weight[i] += lr * e_d + U * (lr * d).abs() + U * (w - lr * d).abs();
            self.velocity[i] = e_v;
        }
    }
}

fn norm(v: &[f64]) -> f64 {
    dot(v, v).sqrt()
}

fn run_steps(config: Sgd, shape: &[usize], with_velocity: bool) {
    let mut case = Case::new(format!("sgd {config:?} {shape:?} velocity {with_velocity}"));
    let len: usize = shape.iter().product();
    let (weight, mut w_ref) = case.tensor(shape, -1.0, 1.0);
    let velocity = gpu().zeros(shape).unwrap();
    let mut v_ref = vec![0.0; len];
    let grad = gpu().zeros(shape).unwrap();
    let lr = gpu().zeros(&[1]).unwrap();
    let step = ops::sgd::step(gpu(), &config, &lr, &grad, &weight, with_velocity.then_some(&velocity)).unwrap();
    // The reference uses the f32 values the kernel sees.
    let config_ref = reference::sgd::Sgd {
        momentum: config.momentum as f64,
        nesterov: config.nesterov,
        weight_decay: config.weight_decay as f64,
    };
    let mut errors = ErrorModel { weight: vec![0.0; len], velocity: vec![0.0; len] };
    for (k, rate) in RATES.into_iter().enumerate() {
        let (g, g_ref) = case.uniform(len, -1.0, 1.0);
        gpu().write(&grad, &g).unwrap();
        gpu().write(&lr, &[rate]).unwrap();
        gpu().run([&step]).unwrap();
        errors.step(&config_ref, rate as f64, &g_ref, &w_ref, &v_ref);
        reference::sgd::step(&config_ref, rate as f64, &g_ref, &mut w_ref, &mut v_ref);
        let bound = SAFETY * norm(&errors.weight) / norm(&w_ref);
        assert_close(&case, &format!("weight after step {}", k + 1), &read(&weight), &w_ref, bound);
        if with_velocity {
            let bound = SAFETY * norm(&errors.velocity) / norm(&v_ref);
            assert_close(&case, &format!("velocity after step {}", k + 1), &read(&velocity), &v_ref, bound);
        }
    }
}

#[test]
fn steps_match_reference() {
    let configs = [
        Sgd { momentum: 0.0, nesterov: false, weight_decay: 0.0 },
        Sgd { momentum: 0.0, nesterov: false, weight_decay: 0.05 },
        Sgd { momentum: 0.9, nesterov: false, weight_decay: 0.0 },
        Sgd { momentum: 0.9, nesterov: false, weight_decay: 0.05 },
        Sgd { momentum: 0.9, nesterov: true, weight_decay: 0.0 },
        Sgd { momentum: 0.5, nesterov: true, weight_decay: 0.05 },
    ];
    for config in configs {
        for shape in [vec![1], vec![7], vec![5, 3, 7, 5]] {
            run_steps(config, &shape, config.momentum > 0.0);
        }
    }
    // Momentum 0 with a velocity buffer: the momentum kernel must give plain SGD.
    run_steps(Sgd { momentum: 0.0, nesterov: false, weight_decay: 0.05 }, &[3, 7], true);
}

#[test]
fn invalid_settings_and_shapes_are_rejected() {
    let zeros = |shape: &[usize]| gpu().zeros(shape).unwrap();
    let (lr, grad, weight, velocity) = (zeros(&[1]), zeros(&[3, 7]), zeros(&[3, 7]), zeros(&[3, 7]));
    let momentum = Sgd { momentum: 0.9, nesterov: false, weight_decay: 0.0 };
    let expect_error = |result: sturdy::gpu::Result<sturdy::gpu::Dispatch>, needles: &[&str]| {
        let error = result.err().expect("must fail").to_string();
        assert!(needles.iter().all(|n| error.contains(n)), "{error}");
    };
    let step = |config: &Sgd, lr: &_, grad: &_, velocity: Option<&_>| {
        ops::sgd::step(gpu(), config, lr, grad, &weight, velocity)
    };
    expect_error(step(&momentum, &lr, &zeros(&[7, 3]), Some(&velocity)), &["sgd step", "grad", "[7, 3]", "[3, 7]"]);
    expect_error(step(&momentum, &zeros(&[2]), &grad, Some(&velocity)), &["sgd step", "lr", "[2]", "[1]"]);
    expect_error(step(&momentum, &lr, &grad, Some(&zeros(&[21]))), &["velocity", "[21]", "[3, 7]"]);
    expect_error(step(&momentum, &lr, &grad, None), &["momentum > 0 needs a velocity"]);
    let nesterov = Sgd { momentum: 0.0, nesterov: true, weight_decay: 0.0 };
    expect_error(step(&nesterov, &lr, &grad, Some(&velocity)), &["Nesterov momentum needs momentum > 0"]);
    let negative = Sgd { momentum: 0.9, nesterov: false, weight_decay: -1.0 };
    expect_error(step(&negative, &lr, &grad, Some(&velocity)), &["weight decay must be finite and >= 0"]);
}
