// Polynomial ReLU and 2x2 max pooling of a PANN, both from one composite sign
// approximation p = p_k o ... o p_1 (odd, from src/poly):
//   ReLU_alpha(x) = x (1 + p(x / B)) / 2                      (entry points forward, backward)
//   max_alpha(a, b) = ((a + b) + (a - b) p((a - b) / D)) / 2   (entry point max_pool_forward)
// Both evaluate p with the same `sign_poly`, from the same coefficient buffer.
//
// Coefficient buffer `poly` (u32 words; f32 values stored as their bits), written by
// src/ops/poly_relu.rs from a `poly::ReluApprox` per site: one block per site, site s's
// starting at word params.poly_base (the host computes it), so sites may differ in alpha.
// Word indices below are relative to the block:
//   word 0                   k, the number of components
//   words 1 + 3i, 2 + 3i, 3 + 3i   component i (0-based, applied in order):
//                              1 / r_i (f32), n_i = number of odd coefficients
//                              (degree d_i = 2 n_i - 1), offset_i (word index of c_{i,0})
//   words offset_i + j       c_{i,j} (f32), the Chebyshev coefficient of T_{2j+1}(y / r_i)
// Unused words after the last coefficient are ignored, so one block sized for the largest
// composite serves every alpha.
//
// Each component is summed by the odd Clenshaw recurrence in w = T_2(t) = 2t^2 - 1
// (T_{2j+3} = 2w T_{2j+1} - T_{2j-1}, T_{-1} = T_1 = t, so the sum closes as
// t (b_0 - b_1)); it does n_i steps instead of the 2 n_i of the full recurrence in t and
// has the same f32 accuracy (a CPU f32 emulation of both met 2^-19.9 B or better at every
// alpha against f64; kernels-tests/poly_relu.rs checks the GPU one). The power basis is
// NOT an option: its coefficients reach 1e5 with alternating signs and f32 Horner misses
// 2^-18 B (the test `power_basis_horner_in_f32_misses_the_bound` documents it).
//
// Inputs with |x| > B (or NaN) are counted into `overflow[0]` by the forward entry point
// (it accumulates across dispatches until reset), and the polynomial is evaluated on the
// clamped input: y = ReLU_alpha(clamp(x, -B, B)), which stays finite. Backward is the exact
// derivative of that forward: 0 where |x| > B.
//
// forward_normalized and backward_normalized are forward and backward of the batch norm's
// normalisation of x (shaders/include/normalized_input.wgsl).
//
// Every entry point evaluates four values per invocation, which share the coefficients'
// loads (lavapipe loads a storage buffer lane by lane: scalar loads of every coefficient
// took half of a one-value-per-invocation kernel's time, measured). The _vec4 forms take
// four values of one channel plane through x4, y4, dy4 and dx4, vec4 views of the same
// buffers (ops::per_element); the others a run of up to four values of a plane (row_run;
// a plain input is one plane of len values), max pooling a run of an output row.
//
// Max pooling (forward only: PANN inference), 2x2 windows with stride 2 over NCHW planes,
// floor on odd sizes (as pool.wgsl's max_forward): the window (a, b; c, d) gives
// max_alpha(max_alpha(a, b), max_alpha(c, d)). With B = bound[site] bounding |x| of the
// pool's input:
//   level 1 uses D1 = 2B, which bounds |a - b| and |c - d|;
//   level 2 uses D2 = second_scale * D1 with second_scale = 9/8 >= 1 + 2 e_alpha for every
//   alpha (e_alpha = the measured sup |ReLU_alpha - ReLU| on [-1, 1], 2^-4.1 at alpha 4):
//   a level-1 result is within D1 e_alpha of its pair's max, so its magnitude is at most
//   B + D1 e_alpha and the level-2 difference at most D1 (1 + 2 e_alpha) <= D2.
// Differences beyond their D (or NaN) are counted into `overflow[0]` like |x| > B above,
// up to three per window, and the polynomial runs on the difference clamped to [-D, D].

// include: runs
// include: normalized_input

struct Params {
    // Elements (ReLU) or outputs (max pooling).
    len: u32,
    // Index into `bound`: one B per activation site.
    site: u32,
    // Word of `poly` where this site's coefficient block starts.
    poly_base: u32,
    // Max pooling only: the input planes' height and width, the output's, and D2 / D1.
    height: u32,
    width: u32,
    out_height: u32,
    out_width: u32,
    second_scale: f32,
    // x's channels (read by the *_normalized entry points) and values per channel plane
    // (all len for a plain input).
    channels: u32,
    spatial: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> poly: array<u32>;
@group(0) @binding(2) var<storage, read> bound: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> overflow: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;
// The *_normalized entry points only: the batch norm's statistics and parameters, per channel.
@group(0) @binding(8) var<storage, read> bn_mean: array<f32>;
@group(0) @binding(9) var<storage, read> bn_inv_std: array<f32>;
@group(0) @binding(10) var<storage, read> bn_gamma: array<f32>;
@group(0) @binding(11) var<storage, read> bn_beta: array<f32>;
// x, y, dy and dx as vec4 arrays, for the _vec4 entry points.
@group(0) @binding(12) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(13) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(14) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(15) var<storage, read_write> dx4: array<vec4<f32>>;

var<workgroup> workgroup_overflow: atomic<u32>;

// Word `word` of this site's coefficient block.
fn block(word: u32) -> u32 {
    return poly[params.poly_base + word];
}

fn coefficient(word: u32) -> f32 {
    return bitcast<f32>(block(word));
}

// p(u), the composite sign approximation, of four values.
fn sign_poly(u: vec4<f32>) -> vec4<f32> {
    var v = u;
    let components = block(0u);
    for (var i = 0u; i < components; i++) {
        let t = v * coefficient(1u + 3u * i);
        let terms = block(2u + 3u * i);
        let offset = block(3u + 3u * i);
        let two_w = 4.0 * t * t - 2.0;
        var b1 = vec4<f32>();
        var b2 = vec4<f32>();
        for (var j = terms; j > 0u; j--) {
            let b0 = coefficient(offset + j - 1u) + two_w * b1 - b2;
            b2 = b1;
            b1 = b0;
        }
        v = t * (b1 - b2);
    }
    return v;
}

struct PolyAndSlope {
    value: vec4<f32>,
    slope: vec4<f32>,
}

// (p(u), p'(u)) of four values: the recurrence also carries db_j/dw (differentiate
// b_j = c_j + 2w b_{j+1} - b_{j+2}: b_j' = 2 b_{j+1} + 2w b_{j+1}' - b_{j+2}'), so
// S(t) = t (b_0 - b_1) has S'(t) = (b_0 - b_1) + 4t^2 (b_0' - b_1'), and the chain rule
// multiplies p_i'(v) = S_i'(t) / r_i over the components.
fn sign_poly_and_slope(u: vec4<f32>) -> PolyAndSlope {
    var v = u;
    var slope = vec4<f32>(1.0);
    let components = block(0u);
    for (var i = 0u; i < components; i++) {
        let inv_radius = coefficient(1u + 3u * i);
        let t = v * inv_radius;
        let terms = block(2u + 3u * i);
        let offset = block(3u + 3u * i);
        let two_w = 4.0 * t * t - 2.0;
        var b1 = vec4<f32>();
        var b2 = vec4<f32>();
        var d1 = vec4<f32>();
        var d2 = vec4<f32>();
        for (var j = terms; j > 0u; j--) {
            let d0 = 2.0 * b1 + two_w * d1 - d2;
            let b0 = coefficient(offset + j - 1u) + two_w * b1 - b2;
            d2 = d1;
            d1 = d0;
            b2 = b1;
            b1 = b0;
        }
        slope *= ((b1 - b2) + 4.0 * t * t * (d1 - d2)) * inv_radius;
        v = t * (b1 - b2);
    }
    return PolyAndSlope(v, slope);
}

// Clamps v into [-limit, limit], counting the values that were outside (written so that
// NaN counts too).
fn clamp_counting(v: vec4<f32>, limit: f32) -> vec4<f32> {
    let outside = !(abs(v) <= vec4<f32>(limit));
    if any(outside) {
        atomicAdd(&workgroup_overflow, dot(select(vec4<u32>(0u), vec4<u32>(1u), outside), vec4<u32>(1u)));
    }
    return clamp(v, vec4<f32>(-limit), vec4<f32>(limit));
}

// Adds the workgroup's overflow count to overflow[0]: one global atomic per workgroup that
// saw overflows (workgroup memory starts at 0). Call from uniform control flow.
fn flush_overflow(lid: u32) {
    workgroupBarrier();
    if lid == 0u {
        let count = atomicLoad(&workgroup_overflow);
        if count > 0u {
            atomicAdd(&overflow[0], count);
        }
    }
}

// How many runs the scalar forms take.
fn run_count() -> u32 {
    return row_run_count(params.len / params.spatial, params.spatial);
}

// v where run r has values, 0 past its end: the forward counts no overflow there.
fn within(r: RowRun, v: vec4<f32>) -> vec4<f32> {
    return select(vec4<f32>(0.0), v, run_lanes(r));
}

// ReLU_alpha(clamp(v, -B, B)), counting the values beyond B.
fn poly_relu(v: vec4<f32>) -> vec4<f32> {
    let b = bound[params.site];
    let vc = clamp_counting(v, b);
    return 0.5 * vc * (1.0 + sign_poly(vc / b));
}

@compute @workgroup_size(WORKGROUP)
fn forward(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let t = thread_index(gid, groups);
    if t < run_count() {
        let r = run_at(t);
        store_y_run(r, poly_relu(within(r, x_run(r))));
    }
    flush_overflow(lid);
}

@compute @workgroup_size(WORKGROUP)
fn forward_vec4(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let t = thread_index(gid, groups);
    if 4u * t < params.len {
        y4[t] = poly_relu(x4[t]);
    }
    flush_overflow(lid);
}

@compute @workgroup_size(WORKGROUP)
fn forward_normalized(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let t = thread_index(gid, groups);
    if t < run_count() {
        let r = run_at(t);
        store_y_run(r, poly_relu(within(r, normalized_x_run(r))));
    }
    flush_overflow(lid);
}

@compute @workgroup_size(WORKGROUP)
fn forward_normalized_vec4(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let t = thread_index(gid, groups);
    if 4u * t < params.len {
        y4[t] = poly_relu(normalized_x4(t));
    }
    flush_overflow(lid);
}

// max_alpha(a, b) = ((a + b) + d p(d / D)) / 2 with d = a - b clamped to [-D, D], of four pairs.
fn poly_max(a: vec4<f32>, b: vec4<f32>, scale: f32) -> vec4<f32> {
    let d = clamp_counting(a - b, scale);
    return 0.5 * ((a + b) + d * sign_poly(d / scale));
}

// The input at row offset `offset` of the windows of run r's outputs: input index `top` is
// the first output's window's top left corner; 0 past the run's end (no overflow counts).
fn window_values(r: RowRun, top: u32, offset: u32) -> vec4<f32> {
    let inside = run_lanes(r);
    let i = select(vec4<u32>(top + offset), top + offset + 2u * vec4<u32>(0u, 1u, 2u, 3u), inside);
    return select(vec4<f32>(0.0), vec4<f32>(x[i.x], x[i.y], x[i.z], x[i.w]), inside);
}

@compute @workgroup_size(WORKGROUP)
fn max_pool_forward(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let t = thread_index(gid, groups);
    let first = 2.0 * bound[params.site];
    let second = params.second_scale * first;
    if t < row_run_count(params.len / params.out_width, params.out_width) {
        // A run of output row r.row: of plane p, row `row`, from column `col`.
        let r = row_run(t, params.out_width);
        let p = quotient(r.row, params.out_height);
        let row = r.row - p * params.out_height;
        let col = r.first - r.row * params.out_width;
        let top = (p * params.height + 2u * row) * params.width + 2u * col;
        let w = params.width;
        let upper = poly_max(window_values(r, top, 0u), window_values(r, top, 1u), first);
        let lower = poly_max(window_values(r, top, w), window_values(r, top, w + 1u), first);
        store_y_run(r, poly_max(upper, lower, second));
    }
    flush_overflow(lid);
}

// The input gradients at v given the output gradients g.
fn poly_relu_gradient(v: vec4<f32>, g: vec4<f32>) -> vec4<f32> {
    let b = bound[params.site];
    let u = clamp(v, vec4<f32>(-b), vec4<f32>(b)) / b;
    let ps = sign_poly_and_slope(u);
    // d/dx [x (1 + p(x / B)) / 2] = (1 + p(u)) / 2 + u p'(u) / 2.
    let slope = 0.5 * (1.0 + ps.value) + 0.5 * u * ps.slope;
    return select(vec4<f32>(0.0), g * slope, abs(v) <= vec4<f32>(b));
}

@compute @workgroup_size(WORKGROUP)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if t < run_count() {
        let r = run_at(t);
        store_dx_run(r, poly_relu_gradient(x_run(r), dy_run(r)));
    }
}

@compute @workgroup_size(WORKGROUP)
fn backward_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if 4u * t < params.len {
        dx4[t] = poly_relu_gradient(x4[t], dy4[t]);
    }
}

@compute @workgroup_size(WORKGROUP)
fn backward_normalized(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if t < run_count() {
        let r = run_at(t);
        store_dx_run(r, poly_relu_gradient(normalized_x_run(r), dy_run(r)));
    }
}

@compute @workgroup_size(WORKGROUP)
fn backward_normalized_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if 4u * t < params.len {
        dx4[t] = poly_relu_gradient(normalized_x4(t), dy4[t]);
    }
}
