// Batch normalisation over NCHW: per channel c, statistics over the M = N*H*W values
// x[n, c, s] at index (n * C + c) * S + s (S = H*W).
//
// Training forward (two dispatches):
//   `stats`     one workgroup per channel: mean, then the biased variance as the mean of
//               squared deviations from that mean (the two-pass algorithm: no cancellation
//               as in E[x^2] - E[x]^2). Saves mean and inv_std = 1/sqrt(var + eps) for
//               backward and updates the running statistics in place with PyTorch's rule
//               running = (1 - momentum) * running + momentum * batch, where the running
//               variance takes the unbiased batch variance var * M / (M - 1).
//   `normalize` y = gamma * (x - mean) * inv_std + beta, one invocation per element
//               (`batch_normalized`, shaders/common/batch_norm.wgsl).
//   `stats_measuring` is `stats` that also raises the running max |y| of the activation
//               site reading y (as calibrate.wgsl's max_abs would, from y's extremes: the
//               transform is monotone in x, and so is its f32 rounding), for an activation
//               kernel that normalises x itself (its *_normalized entry points), so that y
//               is never written.
// Inference forward: `normalize_running`, the same with the running statistics.
// Backward (two dispatches), with xhat = (x - mean) * inv_std:
//   `reduce`    one workgroup per channel: dbeta = sum(dy), dgamma = sum(dy * xhat).
//   `input_grad` dx = gamma * inv_std / M * (M * dy - dbeta - xhat * dgamma).
//
// Where H*W is a multiple of 4, the host picks the per-element entry points' _vec4 twins:
// each invocation handles QUADS runs of four consecutive values of one plane through x4,
// y4, dy4 and dx4 (the same buffers as vec4 arrays), with the same operations per value.
// lavapipe scalarises storage loads one per instruction, so a vec4 load moves four values
// for the price of one (3x faster normalisation, measured), and the channel's parameters,
// loaded once for the QUADS fours, cost as much as the values did (four fours an
// invocation: the 28x28 stem's normalisation 2x faster, its input gradient 1.4x).
//
// RELU (an override constant) fuses the ReLU that follows: the normalising kernels write
// relu(y), and backward reads the ReLU's output gradient, passing it where the recomputed
// y is positive. Either way each kernel makes one pass over its elements.
// RESIDUAL (an override constant) fuses a residual sum into the normalising kernels: they
// write y + residual (relu(y + residual) with RELU), a residual block's second batch norm,
// sum and ReLU in one pass. Backward knows nothing of it: the sum's gradient comes from
// the ReLU's own backward, and reaches this layer as dy with RELU off.
// normalize_measuring (and its vec4 form) is training's normalisation raising the running
// max |output| of the site reading the output (calibrate.wgsl's max_abs of it) as it
// writes it: a residual sum measured for an activation that scales with it, in the same
// pass.
//
// Per-channel sums: each invocation of a channel's workgroup adds its own run of
// ceil(M / WORKGROUP) consecutive values in turn (any M works; 3x faster on lavapipe than
// every WORKGROUP-th value, measured), then `tree_reduce` adds the WORKGROUP partial sums
// in two levels of FAN; a value goes through at most ceil(M / WORKGROUP) + 2 (FAN - 1)
// additions, the depth the tests' error bounds use. Where planes hold a multiple of four
// values, each invocation adds a run of fours into four partial sums, then adds those
// pairwise: ceil(M / (4 WORKGROUP)) + 2 + 2 (FAN - 1).

// include: runs
// include: max_abs

struct Params {
    batch: u32,
    channels: u32,
    spatial: u32,
    // M = batch * spatial: the values per channel.
    count: u32,
    momentum: f32,
    eps: f32,
    // stats_measuring and normalize_measuring only: the site whose running max |y| they
    // raise.
    site: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(6) var<storage, read_write> saved_mean: array<f32>;
@group(0) @binding(7) var<storage, read_write> saved_inv_std: array<f32>;
@group(0) @binding(8) var<storage, read_write> y: array<f32>;
@group(0) @binding(9) var<storage, read> dy: array<f32>;
@group(0) @binding(10) var<storage, read_write> dx: array<f32>;
@group(0) @binding(11) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(12) var<storage, read_write> dbeta: array<f32>;
// f32 values >= 0 seen as u32 (calibrate.wgsl's max_abs_bits).
@group(0) @binding(13) var<storage, read_write> max_abs_bits: array<atomic<u32>>;
// x, y, dy and dx as vec4 arrays, for the _vec4 entry points.
@group(0) @binding(14) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(15) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(16) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(17) var<storage, read_write> dx4: array<vec4<f32>>;
// The residual the normalising kernels add where RESIDUAL is set (bound to x and unread
// where it is not), and its vec4 view.
@group(0) @binding(18) var<storage, read> residual: array<f32>;
@group(0) @binding(19) var<storage, read> residual4: array<vec4<f32>>;

override RELU: bool = false;
override RESIDUAL: bool = false;
// Fours of one plane per invocation of the _vec4 entry points: 1, 2 or 4, the most whose
// values a plane holds a whole number of times (src/ops/batchnorm.rs, `quads_per_thread`).
override QUADS: u32 = 1u;

var<workgroup> partial_a: array<f32, WORKGROUP>;
var<workgroup> partial_b: array<f32, WORKGROUP>;
var<workgroup> partial_low: array<f32, WORKGROUP>;
var<workgroup> partial_high: array<f32, WORKGROUP>;

// Whether planes hold a multiple of four values: then the per-channel loops read x (and
// dy) four values at a time through x4 (and dy4), into four partial sums each.
fn in_fours() -> bool {
    return params.spatial % 4u == 0u;
}

// Where a channel's loop is in the run of its values (or fours) that one invocation of
// its workgroup adds (`run_of`, shaders/common/grid.wgsl): the index of the current one,
// advanced without dividing (lavapipe divides u32 lane by lane), and how many are left.
struct ChannelWalk {
    index: u32,
    s: u32,
    plane: u32,
    // From the end of one image's plane of the channel to the start of the next one's.
    gap: u32,
    remaining: u32,
}

// Invocation `lane`'s walk over channel c's values (or fours), `plane` of them a plane.
fn channel_walk(c: u32, lane: u32, plane: u32) -> ChannelWalk {
    let run = run_of(lane, WORKGROUP, params.batch * plane);
    let n = quotient(run.x, plane);
    let s = run.x - n * plane;
    return ChannelWalk((n * params.channels + c) * plane + s, s, plane, (params.channels - 1u) * plane, run.y - run.x);
}

fn walk_on(w: ChannelWalk) -> ChannelWalk {
    var next = w;
    next.index += 1u;
    next.s += 1u;
    next.remaining -= 1u;
    if next.s == w.plane {
        next.s = 0u;
        next.index += w.gap;
    }
    return next;
}

// The sum of four partial sums (of which the scalar loops fill only x: adding the zeros
// is exact).
fn total(v: vec4<f32>) -> f32 {
    return (v.x + v.y) + (v.z + v.w);
}

// Adds the WORKGROUP values of partial_a (and of partial_b) into element 0 of each, and
// takes the least of partial_low and the greatest of partial_high likewise, in two levels
// of FAN (shaders/common/grid.wgsl). Called by every invocation of the workgroup (uniform
// control flow).
fn tree_reduce(lane: u32) {
    workgroupBarrier();
    if lane < FAN {
        let base = lane * FAN;
        var a = partial_a[base];
        var b = partial_b[base];
        var low = partial_low[base];
        var high = partial_high[base];
        for (var k = 1u; k < FAN; k++) {
            a += partial_a[base + k];
            b += partial_b[base + k];
            low = min(low, partial_low[base + k]);
            high = max(high, partial_high[base + k]);
        }
        partial_a[base] = a;
        partial_b[base] = b;
        partial_low[base] = low;
        partial_high[base] = high;
    }
    workgroupBarrier();
    if lane == 0u {
        var a = partial_a[0];
        var b = partial_b[0];
        var low = partial_low[0];
        var high = partial_high[0];
        for (var k = 1u; k < FAN; k++) {
            a += partial_a[k * FAN];
            b += partial_b[k * FAN];
            low = min(low, partial_low[k * FAN]);
            high = max(high, partial_high[k * FAN]);
        }
        partial_a[0] = a;
        partial_b[0] = b;
        partial_low[0] = low;
        partial_high[0] = high;
    }
    workgroupBarrier();
}

fn channel_of(i: u32) -> u32 {
    return nchw_channel(i, params.spatial, params.channels);
}

// The layer's outputs for normalised values y: relu(y) when the ReLU is fused.
fn activate(y: vec4<f32>) -> vec4<f32> {
    return select(y, max(y, vec4<f32>(0.0)), RELU);
}

// A channel's parameters, loaded once for all the values an invocation handles.
struct Channel {
    mean: f32,
    inv_std: f32,
    gamma: f32,
    beta: f32,
}

fn saved_channel(c: u32) -> Channel {
    return Channel(saved_mean[c], saved_inv_std[c], gamma[c], beta[c]);
}

fn running_channel(c: u32) -> Channel {
    return Channel(running_mean[c], inverseSqrt(running_var[c] + params.eps), gamma[c], beta[c]);
}

// The gradients at y given the output gradients g: zero where a fused ReLU cut y off.
fn pass_gradient(g: vec4<f32>, xhat: vec4<f32>, k: Channel) -> vec4<f32> {
    return select(g, select(vec4<f32>(0.0), g, k.gamma * xhat + k.beta > vec4<f32>(0.0)), RELU);
}

// Values in the whole tensor.
fn element_count() -> u32 {
    return params.batch * params.channels * params.spatial;
}

// A channel's batch statistics: (mean, biased variance, least value, greatest value).
// Called by every invocation of the channel's workgroup (uniform control flow).
fn channel_stats(c: u32, lane: u32) -> vec4<f32> {
    let m = f32(params.count);

    // Pass 1: mean, and the extremes.
    let first = x[c * params.spatial];
    var sum = vec4<f32>(0.0);
    var low = vec4<f32>(first);
    var high = low;
    if in_fours() {
        for (var walk = channel_walk(c, lane, params.spatial / 4u); walk.remaining > 0u; walk = walk_on(walk)) {
            let v = x4[walk.index];
            sum += v;
            low = min(low, v);
            high = max(high, v);
        }
    } else {
        for (var walk = channel_walk(c, lane, params.spatial); walk.remaining > 0u; walk = walk_on(walk)) {
            let v = x[walk.index];
            sum.x += v;
            low = min(low, vec4<f32>(v));
            high = max(high, vec4<f32>(v));
        }
    }
    partial_a[lane] = total(sum);
    partial_b[lane] = 0.0;
    partial_low[lane] = min(min(low.x, low.y), min(low.z, low.w));
    partial_high[lane] = max(max(high.x, high.y), max(high.z, high.w));
    tree_reduce(lane);
    let mean = partial_a[0] / m;
    let lowest = partial_low[0];
    let highest = partial_high[0];
    // Every invocation has read partial_a[0] before pass 2 overwrites it.
    workgroupBarrier();

    // Pass 2: biased variance, from deviations about the mean just computed.
    var squares = vec4<f32>(0.0);
    if in_fours() {
        for (var walk = channel_walk(c, lane, params.spatial / 4u); walk.remaining > 0u; walk = walk_on(walk)) {
            let d = x4[walk.index] - mean;
            squares += d * d;
        }
    } else {
        for (var walk = channel_walk(c, lane, params.spatial); walk.remaining > 0u; walk = walk_on(walk)) {
            let d = x[walk.index] - mean;
            squares.x += d * d;
        }
    }
    partial_a[lane] = total(squares);
    tree_reduce(lane);
    return vec4<f32>(mean, partial_a[0] / m, lowest, highest);
}

// Saves a channel's mean and inverse standard deviation and advances its running
// statistics; returns the inverse standard deviation.
fn save_stats(c: u32, mean: f32, var_biased: f32) -> f32 {
    let m = f32(params.count);
    let inv_std = inverseSqrt(var_biased + params.eps);
    saved_mean[c] = mean;
    saved_inv_std[c] = inv_std;
    // The host rejects M = 1, where the unbiased variance is undefined.
    let var_unbiased = var_biased * (m / (m - 1.0));
    let keep = 1.0 - params.momentum;
    running_mean[c] = keep * running_mean[c] + params.momentum * mean;
    running_var[c] = keep * running_var[c] + params.momentum * var_unbiased;
    return inv_std;
}

// Dispatched with one workgroup per channel: workgroup_id.x = c.
@compute @workgroup_size(WORKGROUP)
fn stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let s = channel_stats(wid.x, lane);
    if lane == 0u {
        save_stats(wid.x, s.x, s.y);
    }
}

// Dispatched with one workgroup per channel: workgroup_id.x = c.
@compute @workgroup_size(WORKGROUP)
fn stats_measuring(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let c = wid.x;
    let s = channel_stats(c, lane);
    if lane == 0u {
        let inv_std = save_stats(c, s.x, s.y);
        let low = batch_normalized(s.z, s.x, inv_std, gamma[c], beta[c]);
        let high = batch_normalized(s.w, s.x, inv_std, gamma[c], beta[c]);
        atomicMax(&max_abs_bits[params.site], max_of(abs_bits(vec4<f32>(low, high, 0.0, 0.0))));
    }
}

// The layer's outputs for inputs v of a channel with parameters k, the residual r added
// where RESIDUAL is set.
fn output(v: vec4<f32>, k: Channel, r: vec4<f32>) -> vec4<f32> {
    let y = batch_normalized4(v, k.mean, k.inv_std, k.gamma, k.beta);
    return activate(select(y, y + r, RESIDUAL));
}

// The residuals of run r's values (of four t, residual_quad): unread, zero, where
// RESIDUAL is not set.
fn residual_run(r: RowRun) -> vec4<f32> {
    if !RESIDUAL {
        return vec4<f32>(0.0);
    }
    let i = run_indices(r);
    return vec4<f32>(residual[i.x], residual[i.y], residual[i.z], residual[i.w]);
}

fn residual_quad(t: u32) -> vec4<f32> {
    if !RESIDUAL {
        return vec4<f32>(0.0);
    }
    return residual4[t];
}

// The first of this invocation's QUADS fours: they lie in one plane.
fn first_quad(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return QUADS * thread_index(gid, groups);
}

// The scalar forms (planes whose H*W is not a multiple of 4) take a run of up to four
// consecutive values of one plane (row_run, a plane being a row of H*W values), as the
// vec4 forms take fours, so that the channel's parameters load once for them.
fn run_count() -> u32 {
    return row_run_count(params.batch * params.channels, params.spatial);
}

fn run_channel(r: RowRun) -> u32 {
    return plane_channel(r.row, params.channels);
}

// Training's normalisation of this invocation's values; returns their greatest |output|
// (as abs_bits).
fn normalize_run(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    let t = thread_index(gid, groups);
    if t >= run_count() {
        return 0u;
    }
    let r = run_at(t);
    let out = output(x_run(r), saved_channel(run_channel(r)), residual_run(r));
    store_y_run(r, out);
    return max_of(select(vec4<u32>(0u), abs_bits(out), run_lanes(r)));
}

// The same for the vec4 forms' QUADS fours.
fn normalize_quads(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    let first = first_quad(gid, groups);
    if 4u * first >= element_count() {
        return 0u;
    }
    let k = saved_channel(channel_of(4u * first));
    var m = 0u;
    for (var t = first; t < first + QUADS; t++) {
        let out = output(x4[t], k, residual_quad(t));
        y4[t] = out;
        m = max(m, max_of(abs_bits(out)));
    }
    return m;
}

@compute @workgroup_size(WORKGROUP)
fn normalize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    _ = normalize_run(gid, groups);
}

@compute @workgroup_size(WORKGROUP)
fn normalize_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    _ = normalize_quads(gid, groups);
}

@compute @workgroup_size(WORKGROUP)
fn normalize_measuring(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    raise_running_max(normalize_run(gid, groups), lid);
}

@compute @workgroup_size(WORKGROUP)
fn normalize_measuring_vec4(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    raise_running_max(normalize_quads(gid, groups), lid);
}

@compute @workgroup_size(WORKGROUP)
fn normalize_running(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if t < run_count() {
        let r = run_at(t);
        store_y_run(r, output(x_run(r), running_channel(run_channel(r)), residual_run(r)));
    }
}

@compute @workgroup_size(WORKGROUP)
fn normalize_running_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let first = first_quad(gid, groups);
    if 4u * first < element_count() {
        let k = running_channel(channel_of(4u * first));
        for (var t = first; t < first + QUADS; t++) {
            y4[t] = output(x4[t], k, residual_quad(t));
        }
    }
}

// Dispatched with one workgroup per channel: workgroup_id.x = c.
@compute @workgroup_size(WORKGROUP)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let c = wid.x;
    let k = saved_channel(c);
    var sum_dy = vec4<f32>(0.0);
    var sum_dy_xhat = vec4<f32>(0.0);
    if in_fours() {
        for (var walk = channel_walk(c, lane, params.spatial / 4u); walk.remaining > 0u; walk = walk_on(walk)) {
            let xhat = (x4[walk.index] - k.mean) * k.inv_std;
            let g = pass_gradient(dy4[walk.index], xhat, k);
            sum_dy += g;
            sum_dy_xhat += g * xhat;
        }
    } else {
        for (var walk = channel_walk(c, lane, params.spatial); walk.remaining > 0u; walk = walk_on(walk)) {
            let xhat = (x[walk.index] - k.mean) * k.inv_std;
            let g = pass_gradient(vec4<f32>(dy[walk.index]), vec4<f32>(xhat), k).x;
            sum_dy.x += g;
            sum_dy_xhat.x += g * xhat;
        }
    }
    partial_a[lane] = total(sum_dy);
    partial_b[lane] = total(sum_dy_xhat);
    tree_reduce(lane);
    if lane == 0u {
        dbeta[c] = partial_a[0];
        dgamma[c] = partial_b[0];
    }
}

// A channel's parameters and sums for the input gradient.
struct Gradients {
    k: Channel,
    dbeta: f32,
    dgamma: f32,
}

fn channel_gradients(c: u32) -> Gradients {
    return Gradients(saved_channel(c), dbeta[c], dgamma[c]);
}

// The input gradients for inputs v of a channel with parameters and sums d, output
// gradients g.
fn input_gradient(v: vec4<f32>, g: vec4<f32>, d: Gradients) -> vec4<f32> {
    let m = f32(params.count);
    let xhat = (v - d.k.mean) * d.k.inv_std;
    let passed = pass_gradient(g, xhat, d.k);
    return (d.k.gamma * d.k.inv_std / m) * (m * passed - d.dbeta - xhat * d.dgamma);
}

@compute @workgroup_size(WORKGROUP)
fn input_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if t < run_count() {
        let r = run_at(t);
        store_dx_run(r, input_gradient(x_run(r), dy_run(r), channel_gradients(run_channel(r))));
    }
}

@compute @workgroup_size(WORKGROUP)
fn input_grad_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let first = first_quad(gid, groups);
    if 4u * first < element_count() {
        let d = channel_gradients(channel_of(4u * first));
        for (var t = first; t < first + QUADS; t++) {
            dx4[t] = input_gradient(x4[t], dy4[t], d);
        }
    }
}
