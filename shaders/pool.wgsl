// Pooling over NCHW planes (one plane per (n, c), H*W values at p * H * W).
//
// Global average: y[p] = mean of plane p; backward dx[p, h, w] = dy[p] / (H*W).
// Max 2x2, stride 2: y[p, i, j] = max of x[p, 2i..2i+2, 2j..2j+2] for i < H/2, j < W/2
// (floor: an odd last row or column is not pooled). Forward saves the index into x of
// each window's maximum in `argmax`; a tie keeps the first in row-major window order
// (top-left, top-right, bottom-left, bottom-right). Backward routes dy[o] to x's index
// argmax[o] and writes 0 everywhere else (windows do not overlap, so each input element
// has at most one window and no sums are needed). NaN inputs give unspecified results.

struct Params {
    // N * C
    planes: u32,
    height: u32,
    width: u32,
    out_height: u32,
    out_width: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

// One invocation per plane, summing its H*W values in order.
@compute @workgroup_size(WORKGROUP)
fn global_average_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let p = thread_index(gid, groups);
    if p < params.planes {
        let size = params.height * params.width;
        var sum = 0.0;
        for (var s = 0u; s < size; s++) {
            sum += x[p * size + s];
        }
        y[p] = sum / f32(size);
    }
}

// One invocation per input element.
@compute @workgroup_size(WORKGROUP)
fn global_average_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    let size = params.height * params.width;
    if i < params.planes * size {
        dx[i] = dy[quotient(i, size)] / f32(size);
    }
}

// One invocation per output element.
@compute @workgroup_size(WORKGROUP)
fn max_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let o = thread_index(gid, groups);
    let out_size = params.out_height * params.out_width;
    if o < params.planes * out_size {
        let p = quotient(o, out_size);
        let r = o - p * out_size;
        let row = quotient(r, params.out_width);
        let col = r - row * params.out_width;
        let top_left = p * params.height * params.width + 2u * row * params.width + 2u * col;
        var window = array<u32, 4>(top_left, top_left + 1u, top_left + params.width, top_left + params.width + 1u);
        var best = window[0];
        for (var k = 1u; k < 4u; k++) {
            // Strictly greater: a tie keeps the earlier position.
            if x[window[k]] > x[best] {
                best = window[k];
            }
        }
        y[o] = x[best];
        argmax[o] = best;
    }
}

// One invocation per input element.
@compute @workgroup_size(WORKGROUP)
fn max_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    let size = params.height * params.width;
    if i < params.planes * size {
        let p = quotient(i, size);
        let r = i - p * size;
        let image_row = quotient(r, params.width);
        let row = image_row / 2u;
        let col = (r - image_row * params.width) / 2u;
        var grad = 0.0;
        if row < params.out_height && col < params.out_width {
            let o = (p * params.out_height + row) * params.out_width + col;
            if argmax[o] == i {
                grad = dy[o];
            }
        }
        dx[i] = grad;
    }
}
