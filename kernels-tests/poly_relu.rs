use rand::Rng;
use sturdy::ops::poly_relu::{self, PolyCoefficients};
use sturdy::poly::degrees::ALPHAS;
use sturdy::poly::ReluApprox;
use sturdy::{ops, reference};

use crate::harness::*;

const B: f32 = 40.0;

/// Inputs in [-B, B]: log-spaced magnitudes from B down to 2^-24 B (8 per octave, the
/// transition around 0), magnitudes just below B, 0, and uniform random points.
fn probe_inputs(case: &mut Case, bound: f32) -> Vec<f32> {
    let mut x = vec![0.0];
    for k in 0..=24 * 8 {
        let v = bound * 2f32.powf(-(k as f32) / 8.0);
        x.extend([v, -v]);
    }
    for j in 0..16 {
        let v = bound * (1.0 - j as f32 * 2f32.powi(-20));
        x.extend([v, -v]);
    }
    x.extend((0..2001).map(|_| case.rng.random_range(-bound..=bound)));
    x
}

fn sign_f32_odd_clenshaw(approx: &ReluApprox, u: f32) -> f32 {
    approx.sign().components().iter().fold(u, |v, c| {
        let t = v * (1.0 / c.radius() as f32);
        let two_w = 4.0 * t * t - 2.0;
        let (mut b1, mut b2) = (0f32, 0f32);
        for &cj in c.odd_coeffs().iter().rev() {
            let b0 = cj as f32 + two_w * b1 - b2;
            (b2, b1) = (b1, b0);
        }
        t * (b1 - b2)
    })
}

fn sign_f32_full_clenshaw(approx: &ReluApprox, u: f32) -> f32 {
    approx.sign().components().iter().fold(u, |v, c| {
        let t = v * (1.0 / c.radius() as f32);
        let coeffs = c.series().coeffs();
        let (mut b1, mut b2) = (0f32, 0f32);
        for &ck in coeffs[1..].iter().rev() {
            let b0 = ck as f32 + 2.0 * t * b1 - b2;
            (b2, b1) = (b1, b0);
        }
        coeffs[0] as f32 + t * b1 - b2
    })
}

/// Each component by Horner's scheme on its power-basis coefficients, all in f32.
fn sign_f32_power_horner(approx: &ReluApprox, u: f32) -> f32 {
    approx.sign().components().iter().fold(u, |v, c| c.power_coeffs().iter().rev().fold(0f32, |acc, &a| acc * v + a as f32))
}

/// max |B ReLU_alpha(x / B) in f32 via `sign` - the f64 reference| / B, as log2.
fn emulated_log2_error(approx: &ReluApprox, x: &[f32], sign: impl Fn(&ReluApprox, f32) -> f32) -> f64 {
    let worst = x
        .iter()
        .map(|&v| {
            let y = 0.5 * v * (1.0 + sign(approx, v / B));
            let exact = B as f64 * approx.relu_approx(v as f64 / B as f64);
            let e = (y as f64 - exact).abs();
            if e.is_finite() { e } else { f64::INFINITY }
        })
        .fold(0.0, f64::max);
    (worst / B as f64).log2()
}

#[test]
fn measure() {
    let mut case = Case::new("poly relu measure");
    let x = probe_inputs(&mut case, B);
    let n = x.len();
    let x_ref: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let xt = gpu().upload(&[n], &x).unwrap();
    let (dy, dy_ref) = case.tensor(&[n], -1.0, 1.0);
    let (y, dx) = (poisoned(&[n]), poisoned(&[n]));
    let bound = gpu().upload(&[1], &[B]).unwrap();
    let overflow = gpu().zeros(&[1]).unwrap();
    let coefficients = PolyCoefficients::new(gpu()).unwrap();
    let forward = poly_relu::forward(gpu(), &coefficients, &bound, &xt, &y, &overflow).unwrap();
    let backward = poly_relu::backward(gpu(), &coefficients, &bound, &xt, &dy, &dx).unwrap();
    for alpha in ALPHAS {
        let approx = ReluApprox::get(alpha).unwrap();
        coefficients.write(gpu(), approx).unwrap();
        gpu().run([&forward, &backward]).unwrap();
        let y_gpu = read(&y);
        let dx_gpu = read(&dx);
        let y_ref = reference::poly_relu::forward(approx, B as f64, &x_ref);
        let dx_ref = reference::poly_relu::backward(approx, B as f64, &x_ref, &dy_ref);
        let fwd = y_gpu.iter().zip(&y_ref).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / B as f64;
        let mut bwd: f64 = 0.0;
        let mut bwd_rel: f64 = 0.0;
        let mut worst_u = 0.0;
        for i in 0..n {
            let u = x_ref[i] / B as f64;
            let g = dy_ref[i].abs();
            let e = (dx_gpu[i] - dx_ref[i]).abs();
            let steep = u * approx.sign().derivative(u);
            bwd = bwd.max(e);
            let r = e / (g * (1.0 + steep.abs()));
            if r > bwd_rel {
                bwd_rel = r;
                worst_u = u;
            }
        }
        // Inherent: the f64 derivative at u and at u rounded to f32 / nudged by 2^-24.
        let mut inherent: f64 = 0.0;
        let mut nudge: f64 = 0.0;
        for &v in &x {
            let u = v as f64 / B as f64;
            let uf = (v / B) as f64;
            let g = approx.relu_derivative(u);
            inherent = inherent.max((approx.relu_derivative(uf) - g).abs());
            nudge = nudge.max((approx.relu_derivative(u * (1.0 + 2f64.powi(-24))) - g).abs());
        }
        println!("   inherent (u rounded to f32) {:7.2}, u nudged 2^-24 {:7.2}", inherent.log2(), nudge.log2());
        let max_steep = x_ref.iter().map(|v| (v / B as f64 * approx.sign().derivative(v / B as f64)).abs()).fold(0.0, f64::max);
        println!(
            "alpha {alpha:2}: gpu fwd {:7.2} | odd {:7.2} full {:7.2} horner {:7.2} | bwd abs {:7.2} rel {:7.2} at u {worst_u:.2e} max|u p'| {max_steep:.2}",
            fwd.log2(),
            emulated_log2_error(approx, &x, sign_f32_odd_clenshaw),
            emulated_log2_error(approx, &x, sign_f32_full_clenshaw),
            emulated_log2_error(approx, &x, sign_f32_power_horner),
            bwd.log2(),
            bwd_rel.log2()
        );
    }
    let _ = ops::fill::fill_u32;
}
