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

// Register blocking: forward and backward_weight compute BLOCK output channels per thread
// (per workgroup), backward_input BLOCK input channels, so each x or dy value loaded
// serves BLOCK sums. Channels past the end of a partial block read the last channel's
// values (any valid address) and are not stored. The host sizes its grids by it
// (src/ops/conv2d/mod.rs reads it from here).
const BLOCK: u32 = 4u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dw: array<f32>;
@group(0) @binding(8) var<storage, read_write> db: array<f32>;

fn blocks(channels: u32) -> u32 {
    return (channels + BLOCK - 1u) / BLOCK;
}

// Channels first..first+3, each clamped to the last channel.
fn block_channels(first: u32, channels: u32) -> vec4<u32> {
    return min(vec4<u32>(first) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(channels - 1u));
}

// One forward thread: BLOCK output channels o0.. at position (n, oh, ow).
struct OutputBlock {
    n: u32,
    o0: u32,
    oh: u32,
    ow: u32,
}

// Thread i's block, or none (n == batch) past the end; ow varies fastest so neighbouring
// threads read neighbouring x.
fn output_block(i: u32) -> OutputBlock {
    let p = params;
    let ow = i % p.out_width;
    let oh = (i / p.out_width) % p.out_height;
    let ob = (i / (p.out_width * p.out_height)) % blocks(p.out_channels);
    let n = i / (p.out_width * p.out_height * blocks(p.out_channels));
    return OutputBlock(n, ob * BLOCK, oh, ow);
}

// The convolution sums (without bias) of one output block.
fn conv_sums(t: OutputBlock) -> vec4<f32> {
    let p = params;
    let kk = p.kernel * p.kernel;
    let w_rows = block_channels(t.o0, p.out_channels) * p.in_channels * kk;
    var sum = vec4<f32>(0.0);
    for (var c = 0u; c < p.in_channels; c++) {
        let x_plane = (t.n * p.in_channels + c) * p.height * p.width;
        for (var kh = 0u; kh < p.kernel; kh++) {
            // Unsigned wrap-around turns rows above the image into huge values: one compare.
            let ih = t.oh * p.stride + kh - p.padding;
            if ih >= p.height {
                continue;
            }
            for (var kw = 0u; kw < p.kernel; kw++) {
                let iw = t.ow * p.stride + kw - p.padding;
                if iw < p.width {
                    let tap = c * kk + kh * p.kernel + kw;
                    let weights = vec4<f32>(w[w_rows.x + tap], w[w_rows.y + tap], w[w_rows.z + tap], w[w_rows.w + tap]);
                    sum += x[x_plane + ih * p.width + iw] * weights;
                }
            }
        }
    }
    return sum;
}

fn store_output(t: OutputBlock, values: vec4<f32>) {
    let p = params;
    for (var j = 0u; j < BLOCK; j++) {
        let o = t.o0 + j;
        if o < p.out_channels {
            y[((t.n * p.out_channels + o) * p.out_height + t.oh) * p.out_width + t.ow] = values[j];
        }
    }
}

@compute @workgroup_size(WORKGROUP)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = output_block(thread_index(gid, groups));
    if t.n < params.batch {
        store_output(t, conv_sums(t));
    }
}

@compute @workgroup_size(WORKGROUP)
fn forward_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = output_block(thread_index(gid, groups));
    if t.n < params.batch {
        let o = block_channels(t.o0, params.out_channels);
        store_output(t, conv_sums(t) + vec4<f32>(b[o.x], b[o.y], b[o.z], b[o.w]));
    }
}

// dx[n,c,ih,iw] = sum over (o,kh,kw) with ih = oh*S+kh-P, iw = ow*S+kw-P of w[o,c,kh,kw] * dy[n,o,oh,ow],
// for BLOCK input channels c0.. per thread.
@compute @workgroup_size(WORKGROUP)
fn backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let p = params;
    let i = thread_index(gid, groups);
    let iw = i % p.width;
    let ih = (i / p.width) % p.height;
    let c0 = ((i / (p.width * p.height)) % blocks(p.in_channels)) * BLOCK;
    let n = i / (p.width * p.height * blocks(p.in_channels));
    if n >= p.batch {
        return;
    }
    let kk = p.kernel * p.kernel;
    let w_planes = block_channels(c0, p.in_channels) * kk;
    let out_plane = p.out_height * p.out_width;
    var sum = vec4<f32>(0.0);
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
                let tap = o * p.in_channels * kk + kh * p.kernel + kw;
                let weights = vec4<f32>(w[w_planes.x + tap], w[w_planes.y + tap], w[w_planes.z + tap], w[w_planes.w + tap]);
                sum += dy[(n * p.out_channels + o) * out_plane + oh * p.out_width + ow] * weights;
            }
        }
    }
    for (var j = 0u; j < BLOCK; j++) {
        let c = c0 + j;
        if c < p.in_channels {
            dx[((n * p.in_channels + c) * p.height + ih) * p.width + iw] = sum[j];
        }
    }
}

// Workgroup reductions: one workgroup per BLOCK output values, its threads stride over
// the N*OH*OW terms and a tree in workgroup memory adds their partial sums, so any size works.
var<workgroup> partial: array<vec4<f32>, WORKGROUP>;

fn workgroup_index(wid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return wid.x + wid.y * groups.x;
}

// Adds `value` over the workgroup; the total is valid in thread 0. Every thread must call it.
fn workgroup_sum(lid: u32, value: vec4<f32>) -> vec4<f32> {
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

// dw[o,c,kh,kw] = sum_{n,oh,ow} dy[n,o,oh,ow] * x[n,c,oh*S+kh-P, ow*S+kw-P],
// for BLOCK output channels o0.. per workgroup.
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
    let valid = j < blocks(p.out_channels) * p.in_channels * kk;
    let kw = j % p.kernel;
    let kh = (j / p.kernel) % p.kernel;
    let c = (j / kk) % p.in_channels;
    let o0 = (j / (kk * p.in_channels)) * BLOCK;
    let out_plane = p.out_height * p.out_width;
    let dy_planes = block_channels(o0, p.out_channels) * out_plane;
    let terms = select(0u, p.batch * out_plane, valid);
    var sum = vec4<f32>(0.0);
    for (var t = lid; t < terms; t += WORKGROUP) {
        let ow = t % p.out_width;
        let oh = (t / p.out_width) % p.out_height;
        let n = t / out_plane;
        let ih = oh * p.stride + kh - p.padding;
        let iw = ow * p.stride + kw - p.padding;
        if ih < p.height && iw < p.width {
            let at = n * p.out_channels * out_plane + t % out_plane;
            let grads = vec4<f32>(dy[dy_planes.x + at], dy[dy_planes.y + at], dy[dy_planes.z + at], dy[dy_planes.w + at]);
            sum += x[((n * p.in_channels + c) * p.height + ih) * p.width + iw] * grads;
        }
    }
    let total = workgroup_sum(lid, sum);
    if lid == 0u && valid {
        for (var jo = 0u; jo < BLOCK; jo++) {
            let o = o0 + jo;
            if o < p.out_channels {
                dw[(o * p.in_channels + c) * kk + kh * p.kernel + kw] = total[jo];
            }
        }
    }
}

// db[o] = sum_{n,oh,ow} dy[n,o,oh,ow], for BLOCK output channels o0.. per workgroup.
@compute @workgroup_size(WORKGROUP)
fn backward_bias(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = params;
    let ob = workgroup_index(wid, groups);
    let valid = ob < blocks(p.out_channels);
    let o0 = ob * BLOCK;
    let out_plane = p.out_height * p.out_width;
    let dy_planes = block_channels(o0, p.out_channels) * out_plane;
    let terms = select(0u, p.batch * out_plane, valid);
    var sum = vec4<f32>(0.0);
    for (var t = lid; t < terms; t += WORKGROUP) {
        let at = (t / out_plane) * p.out_channels * out_plane + t % out_plane;
        sum += vec4<f32>(dy[dy_planes.x + at], dy[dy_planes.y + at], dy[dy_planes.z + at], dy[dy_planes.w + at]);
    }
    let total = workgroup_sum(lid, sum);
    if lid == 0u && valid {
        for (var jo = 0u; jo < BLOCK; jo++) {
            let o = o0 + jo;
            if o < p.out_channels {
                db[o] = total[jo];
            }
        }
    }
}

// ---- packing for the GEMM (src/ops/conv2d/implicit_gemm.rs) ----
// The convolutions run as implicit GEMMs (shaders/gemm.wgsl) over grids of texels, which
// these kernels store into storage buffers, texel (x, y) at y * pitch + x (a texture the
// GEMM reads is copied from there: src/gpu/texels.rs). An image tensor is packed as planes
// of four channels per texel: image n's channel group g is a tile_height x tile_width
// plane whose texel (offset + i, offset + j) holds source[n, 4g..4g+4, j, i], and zeros
// elsewhere (the convolution's zero padding). An image's planes lie side by side,
// images_per_row images per band of tile_height rows.

struct Packing {
    channels: u32,
    height: u32,
    width: u32,
    groups: u32,
    tile_height: u32,
    tile_width: u32,
    images_per_row: u32,
    offset: i32,
    texture_width: u32,
    // Invocations of the pack kernel: a plane row each (pack_images), a texel or a run.
    threads: u32,
    batch: u32,
    // pack_taps: the layer's K and S (offset is its P).
    kernel: u32,
    stride: u32,
    // Texels per row of the buffer the pack stores into.
    pitch: u32,
}

// Packing the weights: the taps of one phase of backward_input (see implicit_gemm.rs), kh =
// row_first + S * t for t < row_taps, likewise kw; and texels per row of the buffer the
// pack stores into.
struct WeightPacking {
    row_first: u32,
    row_taps: u32,
    column_first: u32,
    column_taps: u32,
    pitch: u32,
}

@group(0) @binding(9) var<uniform> packing: Packing;
@group(0) @binding(10) var<storage, read> source: array<f32>;
@group(0) @binding(11) var<storage, read_write> packed: array<vec4<f32>>;
@group(0) @binding(12) var<uniform> weight_packing: WeightPacking;
@group(0) @binding(14) var<storage, read> source4: array<vec4<f32>>;

// Source row or column of padded-plane coordinate `at`, or `size` (out of range) where the
// texel is padding.
fn unpadded(at: u32, size: u32) -> u32 {
    let shifted = i32(at) - packing.offset;
    return select(min(u32(shifted), size), size, shifted < 0i);
}

// The texel where image n's plane of channel group g starts in packed images (and taps).
fn plane_origin(n: u32, g: u32) -> vec2<u32> {
    let p = packing;
    let band = quotient(n, p.images_per_row);
    return vec2<u32>(((n - band * p.images_per_row) * p.groups + g) * p.tile_width, band * p.tile_height);
}

// Up to four texels of one row of a packed grid, left to right from `origin`.
struct TexelRun {
    origin: vec2<u32>,
    count: u32,
    texels: mat4x4<f32>,
}

// Source values row_start + 4 quad .. + 4 of a row of packing.width values, zeros past its
// end: one vec4 load of source4 (the same tensor as source) where rows are whole vec4s
// (width % 4 == 0: every row starts 16-byte aligned). lavapipe pays for each load
// instruction, lane by lane, whatever its width.
fn source_quad(row_start: u32, quad: u32) -> vec4<f32> {
    if packing.width % 4u == 0u {
        return source4[row_start / 4u + quad];
    }
    var values = vec4<f32>(0.0);
    for (var m = 0u; m < 4u; m++) {
        let column = 4u * quad + m;
        if column < packing.width {
            values[m] = source[row_start + column];
        }
    }
    return values;
}

// Plane row t of the packed images, one invocation each: image n (of bands x
// images_per_row, zeros past the batch), channel group g, plane row jj. Neighbouring
// invocations pack neighbouring rows, each left to right: four source columns (the group's
// four channels of them) a step, then its padding columns. Finding the row once a row
// rather than once a run of four saves three divisions a run.
fn pack_image_row(t: u32) {
    let p = packing;
    let plane = quotient(t, p.tile_height);
    let jj = t - plane * p.tile_height;
    let n = quotient(plane, p.groups);
    let g = plane - n * p.groups;
    let origin = plane_origin(n, g) + vec2<u32>(0u, jj);
    let first = origin.y * p.pitch + origin.x;
    let j = unpadded(jj, p.height);
    let inside = n < p.batch && j < p.height;
    for (var k = 0u; k < (p.width + 3u) / 4u; k++) {
        var rows = mat4x4<f32>();
        if inside {
            for (var l = 0u; l < 4u; l++) {
                let c = 4u * g + l;
                if c < p.channels {
                    rows[l] = source_quad(((n * p.channels + c) * p.height + j) * p.width, k);
                }
            }
        }
        store_run(TexelRun(origin + vec2<u32>(u32(p.offset) + 4u * k, 0u), min(4u, p.width - 4u * k), transpose(rows)));
    }
    for (var b = 0u; b < p.tile_width - p.width; b++) {
        packed[first + select(b + p.width, b, b < u32(p.offset))] = vec4<f32>(0.0);
    }
}

// Texel t of dy packed for the weight gradient's GEMM, whose reduction runs over positions:
// source[n, o, row, 4q..4q+4] (zeros past the row's end), t = ((n * channels + o) * height +
// row) * tile_width + q, tile_width = ceil(OW / 4), in the source's order at (t %
// texture_width, t / texture_width) (src/ops/conv2d/implicit_gemm.rs, PackedPositions):
// where rows are whole vec4s, a copy.
fn position_run(t: u32) -> TexelRun {
    let p = packing;
    let y = quotient(t, p.texture_width);
    var texels = mat4x4<f32>();
    if p.width % 4u == 0u {
        texels[0] = source4[t];
    } else {
        let row = quotient(t, p.tile_width);
        texels[0] = source_quad(row * p.width, t - row * p.tile_width);
    }
    return TexelRun(vec2<u32>(t - y * p.texture_width, y), 1u, texels);
}

// The taps of output position t (im2col, `pack_taps`), for layers whose channels times
// taps fill few texels: the GEMM reads them as the channels of a 1x1 convolution of the
// output positions. Position t = (n * tile_height + oh) * tile_width + ow (tile_height x
// tile_width = OH x OW) holds in the plane of group g, for l < 4, tap 4g + l = (c K + kh)
// K + kw: source[n, c, oh S + kh - offset, ow S + kw - offset], zero outside the image,
// past the channels and past the batch. One invocation packs every group of a position,
// stepping from tap to tap: no division per tap.
fn pack_position_taps(t: u32) {
    let p = packing;
    let plane_texels = p.tile_height * p.tile_width;
    let n = quotient(t, plane_texels);
    let within = t - n * plane_texels;
    let oh = quotient(within, p.tile_width);
    let position = vec3<u32>(n, oh, within - oh * p.tile_width);
    let origin = plane_origin(n, 0u) + position.zy;
    var tap = vec3<u32>(0u);
    for (var g = 0u; g < p.groups; g++) {
        let tap1 = next_tap(tap);
        let tap2 = next_tap(tap1);
        let tap3 = next_tap(tap2);
        let texel = vec4<f32>(
            tap_value(position, tap),
            tap_value(position, tap1),
            tap_value(position, tap2),
            tap_value(position, tap3),
        );
        let at = origin + vec2<u32>(g * p.tile_width, 0u);
        packed[at.y * p.pitch + at.x] = texel;
        tap = next_tap(tap3);
    }
}

// The tap after (c, kh, kw).
fn next_tap(tap: vec3<u32>) -> vec3<u32> {
    let kw = tap.z + 1u;
    let row_done = kw == packing.kernel;
    let kh = tap.y + select(0u, 1u, row_done);
    let plane_done = kh == packing.kernel;
    return vec3<u32>(tap.x + select(0u, 1u, plane_done), select(kh, 0u, plane_done), select(kw, 0u, row_done));
}

// Tap (c, kh, kw) of position (n, oh, ow), zero outside the image, past the channels and
// past the batch.
fn tap_value(position: vec3<u32>, tap: vec3<u32>) -> f32 {
    let p = packing;
    let i = unpadded(position.z * p.stride + tap.z, p.width);
    let j = unpadded(position.y * p.stride + tap.y, p.height);
    if position.x < p.batch && tap.x < p.channels && i < p.width && j < p.height {
        return source[((position.x * p.channels + tap.x) * p.height + j) * p.width + i];
    }
    return 0.0;
}

fn store_run(run: TexelRun) {
    let first = run.origin.y * packing.pitch + run.origin.x;
    for (var l = 0u; l < 4u; l++) {
        if l < run.count {
            packed[first + l] = run.texels[l];
        }
    }
}

// One invocation per plane row (packing.threads of them).
@compute @workgroup_size(WORKGROUP)
fn pack_images(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if t < packing.threads {
        pack_image_row(t);
    }
}

@compute @workgroup_size(WORKGROUP)
fn pack_positions(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if t < packing.threads {
        store_run(position_run(t));
    }
}

@compute @workgroup_size(WORKGROUP)
fn pack_taps(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if t < packing.threads {
        pack_position_taps(t);
    }
}

// The weights as the GEMM's B: texel (column group q, row r) holds four filters' weights
// for reduction row r = tap * 4 * input_groups + input channel. Forward: filters are output
// channels, inputs input channels, tap = kh * K + kw. Transposed (a phase of
// backward_input, a convolution of dy): filters are input channels, inputs output
// channels, and tap = th * column_taps + tw reads the phase's kernel backwards:
// kh = row_first + S * (row_taps - 1 - th), likewise kw.
// Texels of the packed weights: columns x rows.
fn weight_grid(transposed: bool) -> vec2<u32> {
    let p = params;
    let filters = select(p.out_channels, p.in_channels, transposed);
    let inputs = select(p.in_channels, p.out_channels, transposed);
    let phase = weight_packing;
    let taps = select(p.kernel * p.kernel, phase.row_taps * phase.column_taps, transposed);
    return vec2<u32>(blocks(filters), 4u * blocks(inputs) * taps);
}

// Texel (q, r) of the packed weights.
fn weight_texel(q: u32, r: u32, transposed: bool) -> vec4<f32> {
    let p = params;
    let filters = select(p.out_channels, p.in_channels, transposed);
    let inputs = select(p.in_channels, p.out_channels, transposed);
    let input_rows = 4u * blocks(inputs);
    let input = r % input_rows;
    var tap = r / input_rows;
    if transposed {
        let phase = weight_packing;
        let kh = phase.row_first + p.stride * (phase.row_taps - 1u - tap / phase.column_taps);
        let kw = phase.column_first + p.stride * (phase.column_taps - 1u - tap % phase.column_taps);
        tap = kh * p.kernel + kw;
    }
    var texel = vec4<f32>(0.0);
    for (var l = 0u; l < 4u; l++) {
        let f = 4u * q + l;
        if f < filters && input < inputs {
            let o = select(f, input, transposed);
            let c = select(input, f, transposed);
            texel[l] = w[(o * p.in_channels + c) * p.kernel * p.kernel + tap];
        }
    }
    return texel;
}

// Thread t packs texel (q, r), t = r * columns + q, where the grid has it.
fn store_weight_texel(t: u32, transposed: bool) {
    let grid = weight_grid(transposed);
    if t < grid.x * grid.y {
        let texel = vec2<u32>(t % grid.x, t / grid.x);
        packed[texel.y * weight_packing.pitch + texel.x] = weight_texel(texel.x, texel.y, transposed);
    }
}

@compute @workgroup_size(WORKGROUP)
fn pack_weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    store_weight_texel(thread_index(gid, groups), false);
}

@compute @workgroup_size(WORKGROUP)
fn pack_weights_transposed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    store_weight_texel(thread_index(gid, groups), true);
}

// y[n, o, :, :] += b[o]: the bias of the texture path, whose GEMM writes the plain sums.
@compute @workgroup_size(WORKGROUP)
fn add_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let p = params;
    let i = thread_index(gid, groups);
    let plane = p.out_height * p.out_width;
    if i < p.batch * p.out_channels * plane {
        y[i] += b[(i / plane) % p.out_channels];
    }
}
