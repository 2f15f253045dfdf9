// The option-A residual shortcut (He et al.), PyTorch's
// F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, before, after)): every other row and column of x,
// and zero channels added on both sides. x is [N, C, H, W], y [N, C', ceil(H/2), ceil(W/2)]
// with C' = before + C + after:
//   y[n, o, i, j] = x[n, o - before, 2i, 2j] where 0 <= o - before < C, else 0.
// Backward routes dy back to the subsampled positions and writes 0 to every other element
// of dx (each input element feeds at most one output: no sums). The _vec4 forms take four
// consecutive values of a row per invocation through vec4 views of the same buffers
// (ops::per_element): backward where W is a multiple of 4, forward where W and the
// output's width are. The scalar forms take a run of up to four values of a row (of y
// forward, of dx backward: row_run) per invocation, finding the row's position once for
// them.

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
@group(0) @binding(5) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> dx4: array<vec4<f32>>;

// Output element o: (n, channel, row, col), and where x's (2 row, 2 col) is in x, or none
// (a zero channel).
fn read_position(o: u32) -> vec2<u32> {
    let plane = params.out_height * params.out_width;
    let p = quotient(o, plane);
    let n = quotient(p, params.out_channels);
    let channel = p - n * params.out_channels;
    let r = o - p * plane;
    let row = quotient(r, params.out_width);
    let col = r - row * params.out_width;
    // Unsigned: channels in front of x's wrap around to large values and fail the test.
    let c = channel - params.before;
    let inside = channel >= params.before && c < params.channels;
    return vec2<u32>(u32(inside), ((n * params.channels + c) * params.height + 2u * row) * params.width + 2u * col);
}

// One invocation per run of an output row.
@compute @workgroup_size(WORKGROUP)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if t < row_run_count(params.batch * params.out_channels * params.out_height, params.out_width) {
        let run = row_run(t, params.out_width);
        let read_at = read_position(run.first);
        // Four steps with a test, not run.count steps: lavapipe then unrolls the loop (a
        // loop of run.count steps took 1.2 to 1.4x as long, measured).
        for (var m = 0u; m < 4u; m++) {
            if m < run.count {
                y[run.first + m] = select(0.0, x[read_at.y + 2u * m], read_at.x == 1u);
            }
        }
    }
}

// Four outputs of a row per invocation: x's columns 2 col .. 2 col + 6, two vec4s.
@compute @workgroup_size(WORKGROUP)
fn forward_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if 4u * t < params.batch * params.out_channels * params.out_height * params.out_width {
        let read_at = read_position(4u * t);
        var value = vec4<f32>(0.0);
        if read_at.x == 1u {
            let first = x4[read_at.y / 4u];
            let second = x4[read_at.y / 4u + 1u];
            value = vec4<f32>(first.x, first.z, second.x, second.z);
        }
        y4[t] = value;
    }
}

// Input element i: (n, c, row, col), and where dy's (row / 2, col / 2) is, or none (an odd
// row or column).
fn gradient_position(i: u32) -> vec2<u32> {
    let plane = params.height * params.width;
    let p = quotient(i, plane);
    let n = quotient(p, params.channels);
    let c = p - n * params.channels;
    let r = i - p * plane;
    let row = quotient(r, params.width);
    let col = r - row * params.width;
    let o = (n * params.out_channels + c + params.before) * params.out_height + row / 2u;
    return vec2<u32>(u32(row % 2u == 0u && col % 2u == 0u), o * params.out_width + col / 2u);
}

// One invocation per run of an input row: its first column is even, so dy feeds its
// values 0 and 2 where the row is even.
@compute @workgroup_size(WORKGROUP)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if t < row_run_count(params.batch * params.channels * params.height, params.width) {
        let run = row_run(t, params.width);
        let grad_at = gradient_position(run.first);
        for (var m = 0u; m < 4u; m++) {
            if m < run.count {
                dx[run.first + m] = select(0.0, dy[grad_at.y + m / 2u], grad_at.x == 1u && m % 2u == 0u);
            }
        }
    }
}

// Four inputs of a row per invocation (an even first column): dy at the first and third.
@compute @workgroup_size(WORKGROUP)
fn backward_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if 4u * t < params.batch * params.channels * params.height * params.width {
        let grad_at = gradient_position(4u * t);
        var grad = vec4<f32>(0.0);
        if grad_at.x == 1u {
            grad = vec4<f32>(dy[grad_at.y], 0.0, dy[grad_at.y + 1u], 0.0);
        }
        dx4[t] = grad;
    }
}
