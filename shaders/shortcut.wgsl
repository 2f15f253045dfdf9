// The option-A residual shortcut (He et al.), PyTorch's
// F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, before, after)): every other row and column of x,
// and zero channels added on both sides. x is [N, C, H, W], y [N, C', ceil(H/2), ceil(W/2)]
// with C' = before + C + after:
//   y[n, o, i, j] = x[n, o - before, 2i, 2j] where 0 <= o - before < C, else 0.
// Backward routes dy back to the subsampled positions and writes 0 to every other element
// of dx (each input element feeds at most one output: no sums).

struct Params {
    batch: u32,
    channels: u32,
    height: u32,
    width: u32,
    out_channels: u32,
    out_height: u32,
    out_width: u32,
    // Zero channels in front of x's.
    before: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

// One invocation per output element.
@compute @workgroup_size(WORKGROUP)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let o = thread_index(gid, groups);
    let plane = params.out_height * params.out_width;
    if o < params.batch * params.out_channels * plane {
        let p = o / plane;
        let n = p / params.out_channels;
        let channel = p - n * params.out_channels;
        let r = o - p * plane;
        let row = r / params.out_width;
        let col = r - row * params.out_width;
        var value = 0.0;
        // Unsigned: channels in front of x's wrap around to large values and fail the test.
        let c = channel - params.before;
        if channel >= params.before && c < params.channels {
            value = x[((n * params.channels + c) * params.height + 2u * row) * params.width + 2u * col];
        }
        y[o] = value;
    }
}

// One invocation per input element.
@compute @workgroup_size(WORKGROUP)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    let plane = params.height * params.width;
    if i < params.batch * params.channels * plane {
        let p = i / plane;
        let n = p / params.channels;
        let c = p - n * params.channels;
        let r = i - p * plane;
        let row = r / params.width;
        let col = r - row * params.width;
        var grad = 0.0;
        if row % 2u == 0u && col % 2u == 0u {
            let o = (n * params.out_channels + c + params.before) * params.out_height + row / 2u;
            grad = dy[o * params.out_width + col / 2u];
        }
        dx[i] = grad;
    }
}
