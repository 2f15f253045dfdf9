// Noise-perturbed ReLU for sturdiness training. See src/ops/noisy_relu.rs for the design.
//
//   forward:   y = relu(x) + noise(x)   where in_region(x), else y = relu(x)
//     additive:        noise = relative_sigma * B * z          (sigma = k B 2^-alpha)
//     multiplicative:  noise = |x| * relative_sigma * z        (sigma' = k 2^-alpha)
//     replay:          noise = k * (1 + z / sqrt(3)) * (poly_value[i] - relu(x))
//   backward:  dx = dy * 1[x > 0], plus dy * sign(x) * relative_sigma * z for the
//              multiplicative form where in_region(x) (straight-through otherwise)
//   stream:    the raw random stream of this site, for tests and diagnostics
// forward_normalized and backward_normalized are forward and backward of the batch norm's
// normalisation of x (shaders/include/normalized_input.wgsl). Each of the four has a _vec4
// form taking four values of a channel plane per invocation through x4, y4, dy4 and dx4,
// vec4 views of the same buffers (ops::per_element); the others take a run of up to four
// values of a plane (row_run; a plain input is one plane of len values), so that the
// stream's key and the channel's parameters load once for them.
//
// z has mean 0 and variance 1: sqrt(3) (2u - 1) (uniform) or Box-Muller (Gaussian).
// Random bits are a counter-based hash (nested PCG hash) of (seed, step, site, counter)
// with counter = 2 * element + lane: no state, so forward and backward recompute the
// same z, and src/reference/noisy_relu.rs reproduces the stream bit for bit.

// include: runs
// include: normalized_input

struct Params {
    len: u32,
    site: u32,
    k: f32,
    // k * 2^-alpha_target.
    relative_sigma: f32,
    threshold: f32,
    // x's channels (read by the *_normalized entry points) and values per channel plane
    // (all len for a plain input).
    channels: u32,
    spatial: u32,
}

// The codes of Region, Distribution and Form, set by the host from the Rust enums
// (src/ops/noisy_relu.rs, `CODES`).
override REGION_NEGATIVE: u32;
override REGION_LARGE: u32;
override REGION_ALL: u32;
override GAUSSIAN: u32;
override MULTIPLICATIVE: u32;
override REPLAY: u32;
// The site's region (a bit set of REGION_NEGATIVE, REGION_LARGE and REGION_ALL),
// distribution (GAUSSIAN, or uniform) and form (MULTIPLICATIVE, REPLAY, or additive):
// constants of the pipeline rather than uniforms, so that the code of the others is
// compiled out (lavapipe runs branches that no lane takes, masked).
override REGION: u32;
override DISTRIBUTION: u32;
override FORM: u32;

// 2^-23: unit() maps the top 23 bits k of a hash to (k + 0.5) 2^-23, exact in f32.
const UNIT_STEP: f32 = 1.1920928955078125e-7;
const PI: f32 = 3.14159265358979;
const SQRT3: f32 = 1.7320508075688772;

@group(0) @binding(0) var<uniform> params: Params;
// [seed low 32 bits, seed high 32 bits, step]: rewritten by the caller every step.
@group(0) @binding(1) var<storage, read> counter: array<u32>;
// B per site.
@group(0) @binding(2) var<storage, read> bound: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> poly_value: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;
@group(0) @binding(8) var<storage, read_write> stream_bits: array<u32>;
@group(0) @binding(9) var<storage, read_write> stream_units: array<f32>;
// The *_normalized entry points only: the batch norm's statistics and parameters, per channel.
@group(0) @binding(10) var<storage, read> bn_mean: array<f32>;
@group(0) @binding(11) var<storage, read> bn_inv_std: array<f32>;
@group(0) @binding(12) var<storage, read> bn_gamma: array<f32>;
@group(0) @binding(13) var<storage, read> bn_beta: array<f32>;
// x, y, dy and dx as vec4 arrays, for the _vec4 entry points.
@group(0) @binding(14) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(15) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(16) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(17) var<storage, read_write> dx4: array<vec4<f32>>;

// The key of this (seed, step, site) (`random_key` in shaders/common/random.wgsl).
fn stream_key() -> u32 {
    return random_key(params.site, counter[0], counter[1], counter[2]);
}

// Uniform in (0, 1), symmetric about 1/2, never 0 (Box-Muller takes its log).
fn unit(bits: u32) -> f32 {
    return (f32(bits >> 9u) + 0.5) * UNIT_STEP;
}

// Noise of element i with mean 0 and variance 1.
fn standard_noise(key: u32, i: u32) -> f32 {
    let u1 = unit(draw(key, 2u * i));
    if DISTRIBUTION == GAUSSIAN {
        let u2 = unit(draw(key, 2u * i + 1u));
        // Angle in [-pi, pi), where Vulkan bounds the error of cos.
        return sqrt(-2.0 * log(u1)) * cos(PI * (2.0 * u2 - 1.0));
    }
    return SQRT3 * (2.0 * u1 - 1.0);
}

fn in_region(v: f32, b: f32) -> bool {
    let negative = (REGION & REGION_NEGATIVE) != 0u && v < 0.0;
    let large = (REGION & REGION_LARGE) != 0u && abs(v) > params.threshold * b;
    return (REGION & REGION_ALL) != 0u || negative || large;
}

// The output of element i, whose input is v; `key` is stream_key().
fn perturbed(v: f32, i: u32, key: u32) -> f32 {
    let b = bound[params.site];
    var out = max(v, 0.0);
    if in_region(v, b) {
        let z = standard_noise(key, i);
        if FORM == MULTIPLICATIVE {
            out += abs(v) * params.relative_sigma * z;
        } else if FORM == REPLAY {
            // The error scaled by s = 1 + z / sqrt(3) (mean 1, std 1/sqrt(3)).
            out += params.k * (1.0 + z / SQRT3) * (poly_value[i] - max(v, 0.0));
        } else {
            out += params.relative_sigma * b * z;
        }
    }
    return out;
}

// The outputs of the elements at indices i, whose inputs are v.
fn perturbed4(v: vec4<f32>, i: vec4<u32>) -> vec4<f32> {
    let key = stream_key();
    return vec4<f32>(perturbed(v.x, i.x, key), perturbed(v.y, i.y, key), perturbed(v.z, i.z, key), perturbed(v.w, i.w, key));
}

// The input gradient of element i, whose input is v and output gradient g.
fn input_gradient(v: f32, g: f32, i: u32, key: u32) -> f32 {
    var grad = select(0.0, g, v > 0.0);
    if FORM == MULTIPLICATIVE && in_region(v, bound[params.site]) {
        let z = standard_noise(key, i);
        grad += g * (sign(v) * params.relative_sigma * z);
    }
    return grad;
}

// The input gradients of the elements at indices i, whose inputs are v and output gradients g.
fn input_gradient4(v: vec4<f32>, g: vec4<f32>, i: vec4<u32>) -> vec4<f32> {
    let key = stream_key();
    return vec4<f32>(
        input_gradient(v.x, g.x, i.x, key),
        input_gradient(v.y, g.y, i.y, key),
        input_gradient(v.z, g.z, i.z, key),
        input_gradient(v.w, g.w, i.w, key),
    );
}

// The indices of the four values of the vec4 forms' invocation t.
fn quad_indices(t: u32) -> vec4<u32> {
    return 4u * t + vec4<u32>(0u, 1u, 2u, 3u);
}

// How many runs the scalar forms take.
fn run_count() -> u32 {
    return row_run_count(params.len / params.spatial, params.spatial);
}

@compute @workgroup_size(WORKGROUP)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if t < run_count() {
        let r = run_at(t);
        store_y_run(r, perturbed4(x_run(r), run_indices(r)));
    }
}

@compute @workgroup_size(WORKGROUP)
fn forward_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if 4u * t < params.len {
        y4[t] = perturbed4(x4[t], quad_indices(t));
    }
}

@compute @workgroup_size(WORKGROUP)
fn forward_normalized(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if t < run_count() {
        let r = run_at(t);
        store_y_run(r, perturbed4(normalized_x_run(r), run_indices(r)));
    }
}

@compute @workgroup_size(WORKGROUP)
fn forward_normalized_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if 4u * t < params.len {
        y4[t] = perturbed4(normalized_x4(t), quad_indices(t));
    }
}

@compute @workgroup_size(WORKGROUP)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if t < run_count() {
        let r = run_at(t);
        store_dx_run(r, input_gradient4(x_run(r), dy_run(r), run_indices(r)));
    }
}

@compute @workgroup_size(WORKGROUP)
fn backward_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if 4u * t < params.len {
        dx4[t] = input_gradient4(x4[t], dy4[t], quad_indices(t));
    }
}

@compute @workgroup_size(WORKGROUP)
fn backward_normalized(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if t < run_count() {
        let r = run_at(t);
        store_dx_run(r, input_gradient4(normalized_x_run(r), dy_run(r), run_indices(r)));
    }
}

@compute @workgroup_size(WORKGROUP)
fn backward_normalized_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if 4u * t < params.len {
        dx4[t] = input_gradient4(normalized_x4(t), dy4[t], quad_indices(t));
    }
}

@compute @workgroup_size(WORKGROUP)
fn stream(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let c = thread_index(gid, groups);
    if c >= params.len {
        return;
    }
    let bits = draw(stream_key(), c);
    stream_bits[c] = bits;
    stream_units[c] = unit(bits);
}
