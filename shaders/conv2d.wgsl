// 2-D convolution in NCHW with square kernels, one stride and zero padding:
//   y[n,o,oh,ow] = b[o] + sum_{c,kh,kw} w[o,c,kh,kw] * x[n,c,oh*S+kh-P, ow*S+kw-P]
// with x [N,C,H,W], w [O,C,K,K], b [O], y [N,O,OH,OW]. Reads of x outside the image are
// the zero padding. Backward kernels overwrite dx, dw and db (they do not accumulate).

struct Params {
    batch: u32,
    in_channels: u32,
    out_channels: u32,
    height: u32,
    width: u32,
    kernel: u32,
    stride: u32,
    padding: u32,
    out_height: u32,
    out_width: u32,
}

const WORKGROUP: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dw: array<f32>;
@group(0) @binding(8) var<storage, read_write> db: array<f32>;

fn thread_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WORKGROUP;
}

// The convolution sum (without bias) for output element i of y, or 0 past the end.
fn conv_sum(i: u32) -> f32 {
    let p = params;
    let ow = i % p.out_width;
    let oh = (i / p.out_width) % p.out_height;
    let o = (i / (p.out_width * p.out_height)) % p.out_channels;
    let n = i / (p.out_width * p.out_height * p.out_channels);
    let kk = p.kernel * p.kernel;
    var sum = 0.0;
    for (var c = 0u; c < p.in_channels; c++) {
        let x_plane = (n * p.in_channels + c) * p.height * p.width;
        let w_plane = (o * p.in_channels + c) * kk;
        for (var kh = 0u; kh < p.kernel; kh++) {
            // Unsigned wrap-around turns rows above the image into huge values: one compare.
            let ih = oh * p.stride + kh - p.padding;
            if ih >= p.height {
                continue;
            }
            for (var kw = 0u; kw < p.kernel; kw++) {
                let iw = ow * p.stride + kw - p.padding;
                if iw < p.width {
                    sum += w[w_plane + kh * p.kernel + kw] * x[x_plane + ih * p.width + iw];
                }
            }
        }
    }
    return sum;
}

fn output_len() -> u32 {
    return params.batch * params.out_channels * params.out_height * params.out_width;
}

@compute @workgroup_size(WORKGROUP)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if i < output_len() {
        y[i] = conv_sum(i);
    }
}

@compute @workgroup_size(WORKGROUP)
fn forward_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if i < output_len() {
        let o = (i / (params.out_width * params.out_height)) % params.out_channels;
        y[i] = conv_sum(i) + b[o];
    }
}

// dx[n,c,ih,iw] = sum over (o,kh,kw) with ih = oh*S+kh-P, iw = ow*S+kw-P of w[o,c,kh,kw] * dy[n,o,oh,ow].
@compute @workgroup_size(WORKGROUP)
fn backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let p = params;
    let i = thread_index(gid, groups);
    if i >= p.batch * p.in_channels * p.height * p.width {
        return;
    }
    let iw = i % p.width;
    let ih = (i / p.width) % p.height;
    let c = (i / (p.width * p.height)) % p.in_channels;
    let n = i / (p.width * p.height * p.in_channels);
    let kk = p.kernel * p.kernel;
    let out_plane = p.out_height * p.out_width;
    var sum = 0.0;
    for (var kh = 0u; kh < p.kernel; kh++) {
        // oh*S = ih + P - kh must be a non-negative multiple of S below OH*S.
        let th = ih + p.padding - kh;
        let oh = th / p.stride;
        if th >= p.height + p.padding || th % p.stride != 0u || oh >= p.out_height {
            continue;
        }
        for (var kw = 0u; kw < p.kernel; kw++) {
            let tw = iw + p.padding - kw;
            let ow = tw / p.stride;
            if tw >= p.width + p.padding || tw % p.stride != 0u || ow >= p.out_width {
                continue;
            }
            for (var o = 0u; o < p.out_channels; o++) {
                sum += w[(o * p.in_channels + c) * kk + kh * p.kernel + kw]
                    * dy[(n * p.out_channels + o) * out_plane + oh * p.out_width + ow];
            }
        }
    }
    dx[i] = sum;
}

// Workgroup reductions: one workgroup per output value, its threads stride over the
// N*OH*OW terms and a tree in workgroup memory adds their partial sums, so any size works.
var<workgroup> partial: array<f32, WORKGROUP>;

fn workgroup_index(wid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wid.x + wid.y * groups.x;
}

// Adds `value` over the workgroup; the total is valid in thread 0. Every thread must call it.
fn workgroup_sum(lid: u32, value: f32) -> f32 {
    partial[lid] = value;
    workgroupBarrier();
    for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {
        if lid < half {
            partial[lid] += partial[lid + half];
        }
        workgroupBarrier();
    }
    return partial[0];
}

// dw[o,c,kh,kw] = sum_{n,oh,ow} dy[n,o,oh,ow] * x[n,c,oh*S+kh-P, ow*S+kw-P].
@compute @workgroup_size(WORKGROUP)
fn backward_weight(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = params;
    let j = workgroup_index(wid, groups);
    let kk = p.kernel * p.kernel;
    // Spare workgroups of a grid spilled into y sum nothing but still meet every barrier.
    let valid = j < p.out_channels * p.in_channels * kk;
    let kw = j % p.kernel;
    let kh = (j / p.kernel) % p.kernel;
    let c = (j / kk) % p.in_channels;
    let o = j / (kk * p.in_channels);
    let out_plane = p.out_height * p.out_width;
    let terms = select(0u, p.batch * out_plane, valid);
    var sum = 0.0;
    for (var t = lid; t < terms; t += WORKGROUP) {
        let ow = t % p.out_width;
        let oh = (t / p.out_width) % p.out_height;
        let n = t / out_plane;
        let ih = oh * p.stride + kh - p.padding;
        let iw = ow * p.stride + kw - p.padding;
        if ih < p.height && iw < p.width {
            sum += dy[(n * p.out_channels + o) * out_plane + oh * p.out_width + ow]
                * x[((n * p.in_channels + c) * p.height + ih) * p.width + iw];
        }
    }
    let total = workgroup_sum(lid, sum);
    if lid == 0u && valid {
        dw[j] = total;
    }
}

// db[o] = sum_{n,oh,ow} dy[n,o,oh,ow].
@compute @workgroup_size(WORKGROUP)
fn backward_bias(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = params;
    let o = workgroup_index(wid, groups);
    let valid = o < p.out_channels;
    let out_plane = p.out_height * p.out_width;
    let terms = select(0u, p.batch * out_plane, valid);
    var sum = 0.0;
    for (var t = lid; t < terms; t += WORKGROUP) {
        let n = t / out_plane;
        sum += dy[(n * p.out_channels + o) * out_plane + t % out_plane];
    }
    let total = workgroup_sum(lid, sum);
    if lid == 0u && valid {
        db[o] = total;
    }
}
