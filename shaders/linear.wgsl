// Fully connected layer, weight in PyTorch layout [out, in]:
//   forward          y[n, o]  = b[o] + sum_i x[n, i] w[o, i]
//   backward_input   dx[n, i] = sum_o dy[n, o] w[o, i]       (dx = dy W)
//   backward_weight  dw[o, i] = sum_n dy[n, o] x[n, i]       (dw = dy^T x)
//   backward_bias    db[o]    = sum_n dy[n, o]
// The direct kernels: one invocation per output element, each a plain loop over the
// reduced dimension, so every size works (no tiling remainder). Gradients are written,
// not accumulated. The GEMM variants (src/ops/linear.rs) compute the products with
// shaders/gemm.wgsl and add the bias with `add_bias`.

struct Params {
    batch: u32,
    in_features: u32,
    out_features: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dw: array<f32>;
@group(0) @binding(8) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = thread_index(gid, groups);
    if index >= params.batch * params.out_features {
        return;
    }
    let n = index / params.out_features;
    let o = index % params.out_features;
    let x_row = n * params.in_features;
    let w_row = o * params.in_features;
    var sum = b[o];
    for (var i = 0u; i < params.in_features; i++) {
        sum += x[x_row + i] * w[w_row + i];
    }
    y[index] = sum;
}

@compute @workgroup_size(WORKGROUP)
fn backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = thread_index(gid, groups);
    if index >= params.batch * params.in_features {
        return;
    }
    let n = index / params.in_features;
    let i = index % params.in_features;
    let dy_row = n * params.out_features;
    var sum = 0.0;
    for (var o = 0u; o < params.out_features; o++) {
        sum += dy[dy_row + o] * w[o * params.in_features + i];
    }
    dx[index] = sum;
}

@compute @workgroup_size(WORKGROUP)
fn backward_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = thread_index(gid, groups);
    if index >= params.out_features * params.in_features {
        return;
    }
    let o = index / params.in_features;
    let i = index % params.in_features;
    var sum = 0.0;
    for (var n = 0u; n < params.batch; n++) {
        sum += dy[n * params.out_features + o] * x[n * params.in_features + i];
    }
    dw[index] = sum;
}

@compute @workgroup_size(WORKGROUP)
fn backward_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let o = thread_index(gid, groups);
    if o >= params.out_features {
        return;
    }
    var sum = 0.0;
    for (var n = 0u; n < params.batch; n++) {
        sum += dy[n * params.out_features + o];
    }
    db[o] = sum;
}

// y[n, o] += b[o]: the bias of the GEMM variants, whose product writes the plain sums.
@compute @workgroup_size(WORKGROUP)
fn add_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = thread_index(gid, groups);
    if index < params.batch * params.out_features {
        y[index] += b[index % params.out_features];
    }
}
