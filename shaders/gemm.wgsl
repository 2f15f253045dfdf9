// C = A B over packed operands: grids of texels (four f32 each) whose positions index maps
// in the uniform give, so the same kernels compute the matrix product (src/ops/matmul.rs),
// the linear layer (src/ops/linear.rs) and the convolutions as implicit GEMMs
// (src/ops/conv2d/). Two loaders read the operands:
// - `gemm`: textures, a register block per invocation, for CPU adapters (lavapipe): they
//   scalarise storage-buffer and workgroup-memory loads lane by lane but gather texture
//   loads across lanes.
// - `gemm_tiled`: storage buffers of texels (row after row; the host flattens the maps to
//   texel indices in x), staged through workgroup memory, for GPUs.
// Which one runs is measured per adapter and shape (src/ops/variants.rs).
//
// Each invocation keeps a ROWS x COLS block of C in registers. A K step of 4 reads one
// texel of A per row (A[m, 4s..4s+4]) and four texels of B per column group
// (B[4s + r, n..n+4] for r = 0..3): 8 + 32 loads feed 1024 multiply-adds.
//
// Texel positions: row m of A at a_rows(m) + a_depth(s) in step s; column group g
// (columns 4g..4g+4) of B at b_cols(g) + b_depth(s) + r * b_row_step. C[m, n] is element
// c_rows(m) + c_cols(n) of the output, stored when m < M, n < N and n % c_cols.radix.x
// < n_inner (the valid channels of a padded channel group).

// A mixed-radix index map: digits d0 = i % r0, d1 = i / r0 % r1, d2 = i / (r0 r1) % r2,
// d3 = i / (r0 r1 r2) (r = radix.xyz), each scaled by its coefficient, summed, plus origin.
struct TexelMap {
    radix: vec4<u32>,
    origin: vec2<i32>,
    c0: vec2<i32>,
    c1: vec2<i32>,
    c2: vec2<i32>,
    c3: vec2<i32>,
}

struct IndexMap {
    radix: vec4<u32>,
    coefficient: vec4<u32>,
    origin: u32,
}

struct Params {
    m: u32,
    n: u32,
    // K / 4: steps of the reduction.
    steps: u32,
    n_inner: u32,
    b_row_step: vec2<i32>,
    // Split K: each invocation reduces chunk_steps steps of one chunk and stores its sums
    // at chunk * chunk_stride past C's elements; `sum_chunks` adds the chunks.
    chunk_steps: u32,
    chunk_stride: u32,
    a_rows: TexelMap,
    a_depth: TexelMap,
    b_cols: TexelMap,
    b_depth: TexelMap,
    c_rows: IndexMap,
    c_cols: IndexMap,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var a: texture_2d<f32>;
@group(0) @binding(2) var b: texture_2d<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

struct Chunks {
    elements: u32,
    count: u32,
}

@group(0) @binding(4) var<uniform> chunks: Chunks;
@group(0) @binding(5) var<storage, read> partial_sums: array<f32>;
@group(0) @binding(6) var<storage, read_write> total: array<f32>;

// Block shape, measured fastest on lavapipe (shared/PANN.md; 8 x 8, 16 x 16, 32 x 8 and
// 8 x 64 ran at 40 to 55 % of its speed). The accumulators are named variables, not an
// array: lavapipe keeps arrays in memory, which costs 10x (measured). The host sizes
// its grids by ROWS and COLS, read from here (src/ops/gemm.rs).
const ROWS: u32 = 8u;
const COLS: u32 = 32u;
// False: 16 rows x 16 columns instead (accumulators 4..7 hold rows 8..16 of column groups
// 0..3), for C with 16 columns or fewer (the 16-channel convolutions), which would waste
// half of a 32-wide block; the same registers, with 32 loads per 1024 multiply-adds
// instead of 24 per 512 for an 8 x 16 block. The host sets it (src/ops/gemm.rs).
override WIDE: bool = true;

fn digits(radix: vec4<u32>, i: u32) -> vec4<u32> {
    let d0 = i % radix.x;
    let q0 = i / radix.x;
    let d1 = q0 % radix.y;
    let q1 = q0 / radix.y;
    return vec4<u32>(d0, d1, q1 % radix.z, q1 / radix.z);
}

fn texel_at(map: TexelMap, d: vec4<u32>) -> vec2<i32> {
    return map.origin + i32(d.x) * map.c0 + i32(d.y) * map.c1 + i32(d.z) * map.c2 + i32(d.w) * map.c3;
}

// The digits of i + 1 given those of i, without dividing (the depth maps advance each step).
fn next_digits(radix: vec4<u32>, d: vec4<u32>) -> vec4<u32> {
    var e = d;
    e.x += 1u;
    if e.x == radix.x {
        e.x = 0u;
        e.y += 1u;
        if e.y == radix.y {
            e.y = 0u;
            e.z += 1u;
            if e.z == radix.z {
                e.z = 0u;
                e.w += 1u;
            }
        }
    }
    return e;
}

// Four texels of B down a column group: rows 4s..4s+4 (each column of the result a row of B).
fn b_rows(at: vec2<i32>) -> mat4x4<f32> {
    let step = params.b_row_step;
    return mat4x4<f32>(textureLoad(b, at, 0), textureLoad(b, at + step, 0), textureLoad(b, at + 2i * step, 0),
        textureLoad(b, at + 3i * step, 0));
}

// Rows of A at the four texel positions (each column of the result a row of A).
fn a_rows(p0: vec2<i32>, p1: vec2<i32>, p2: vec2<i32>, p3: vec2<i32>) -> mat4x4<f32> {
    return mat4x4<f32>(textureLoad(a, p0, 0), textureLoad(a, p1, 0), textureLoad(a, p2, 0), textureLoad(a, p3, 0));
}

// Whether column n + j of C is stored: within C, and a valid channel of its group.
// Stores are written out, not looped over: the loops over the block's rows took their
// matrices from memory (a dynamic index), which cost half of the time of GEMMs with short
// reductions, such as backward_input's stride-2 phases (measured on lavapipe).
fn stored(n: u32, column: vec4<u32>, j: u32) -> bool {
    return n + j < params.n && column.x + j < params.n_inner;
}

// C[m, n..n+4] = v, skipping what lies outside C: `base` is m's element, `column` the
// digits of n. The four columns are consecutive in digit 0 (its radix is a multiple of 4),
// so their elements are `base + offset + j * stride`.
fn store4(base: u32, n: u32, column: vec4<u32>, v: vec4<f32>) {
    let p = params;
    let offset = base + p.c_cols.origin + dot(column, p.c_cols.coefficient);
    if COLUMN_QUADS {
        if stored(n, column, 0u) {
            c4[offset / 4u] = v;
        }
        return;
    }
    let stride = p.c_cols.coefficient.x;
    if stored(n, column, 0u) {
        c[offset] = v.x;
    }
    if stored(n, column, 1u) {
        c[offset + stride] = v.y;
    }
    if stored(n, column, 2u) {
        c[offset + 2u * stride] = v.z;
    }
    if stored(n, column, 3u) {
        c[offset + 3u * stride] = v.w;
    }
}

// Columns n..n+4 of rows m..m+8 of C: column i of `top` is row m + i, of `bottom` row
// m + 4 + i.
fn store_block(chunk: u32, m: u32, n: u32, top: mat4x4<f32>, bottom: mat4x4<f32>) {
    if ROW_QUADS {
        store_row_quad(chunk, m, n, transpose(top));
        store_row_quad(chunk, m + 4u, n, transpose(bottom));
        return;
    }
    let column = digits(params.c_cols.radix, n);
    let next = store_rows(chunk, m, n, column, digits(params.c_rows.radix, m), top);
    store_rows(chunk, m + 4u, n, column, next, bottom);
}

// Rows m..m+4 of C (row m + i in rows[i]) from the digits of row m, advancing them by
// increments, not divisions; the digits of row m + 4.
fn store_rows(chunk: u32, m: u32, n: u32, column: vec4<u32>, first: vec4<u32>, rows: mat4x4<f32>) -> vec4<u32> {
    var row = first;
    store_row_at(chunk, m, n, column, row, rows[0]);
    row = next_digits(params.c_rows.radix, row);
    store_row_at(chunk, m + 1u, n, column, row, rows[1]);
    row = next_digits(params.c_rows.radix, row);
    store_row_at(chunk, m + 2u, n, column, row, rows[2]);
    row = next_digits(params.c_rows.radix, row);
    store_row_at(chunk, m + 3u, n, column, row, rows[3]);
    return next_digits(params.c_rows.radix, row);
}

// C[m, n..n+4] = v where m < M, m's digits given.
fn store_row_at(chunk: u32, m: u32, n: u32, column: vec4<u32>, row: vec4<u32>, v: vec4<f32>) {
    let p = params;
    if m < p.m {
        store4(chunk * p.chunk_stride + p.c_rows.origin + dot(row, p.c_rows.coefficient), n, column, v);
    }
}

// With ROW_QUADS the host has found that every four rows from a multiple of 4 lie at four
// consecutive elements, the first a multiple of 4, for every column (as a convolution's
// output positions do where its planes are multiples of 4; `GemmLayout::row_quads`), and
// that M is a multiple of 4: C is then stored one vec4 of four rows per column, four times
// fewer stores than element by element (which took about a third of a 16-channel
// convolution's GEMM on lavapipe, measured). `c4` binds the same tensor as `c`.
override ROW_QUADS: bool = false;
// Likewise COLUMN_QUADS where every four columns from a multiple of 4 lie at four
// consecutive elements, the first a multiple of 4, in every row, and columns are stored
// all four or none (N and n_inner multiples of 4): a row-major C, as the matrix product's
// and the linear layer's are, takes one vec4 per row (`GemmLayout::column_quads`).
override COLUMN_QUADS: bool = false;
@group(0) @binding(13) var<storage, read_write> c4: array<vec4<f32>>;

// Rows m..m+4 of columns n..n+4: `columns[j]` holds column n + j.
fn store_row_quad(chunk: u32, m: u32, n: u32, columns: mat4x4<f32>) {
    let p = params;
    if m >= p.m {
        return;
    }
    let column = digits(p.c_cols.radix, n);
    let rows = dot(digits(p.c_rows.radix, m), p.c_rows.coefficient);
    let first = (chunk * p.chunk_stride + p.c_rows.origin + rows + p.c_cols.origin + dot(column, p.c_cols.coefficient)) / 4u;
    let stride = p.c_cols.coefficient.x / 4u;
    if stored(n, column, 0u) {
        c4[first] = columns[0];
    }
    if stored(n, column, 1u) {
        c4[first + stride] = columns[1];
    }
    if stored(n, column, 2u) {
        c4[first + 2u * stride] = columns[2];
    }
    if stored(n, column, 3u) {
        c4[first + 3u * stride] = columns[3];
    }
}

// The texel positions of eight consecutive indices from `first`.
struct Texels8 {
    t0: vec2<i32>,
    t1: vec2<i32>,
    t2: vec2<i32>,
    t3: vec2<i32>,
    t4: vec2<i32>,
    t5: vec2<i32>,
    t6: vec2<i32>,
    t7: vec2<i32>,
}

fn texels8(map: TexelMap, first: u32) -> Texels8 {
    var d = digits(map.radix, first);
    let t0 = texel_at(map, d);
    d = next_digits(map.radix, d);
    let t1 = texel_at(map, d);
    d = next_digits(map.radix, d);
    let t2 = texel_at(map, d);
    d = next_digits(map.radix, d);
    let t3 = texel_at(map, d);
    d = next_digits(map.radix, d);
    let t4 = texel_at(map, d);
    d = next_digits(map.radix, d);
    let t5 = texel_at(map, d);
    d = next_digits(map.radix, d);
    let t6 = texel_at(map, d);
    d = next_digits(map.radix, d);
    return Texels8(t0, t1, t2, t3, t4, t5, t6, texel_at(map, d));
}

// Invocation t takes row block t % row blocks, then column blocks, then chunks: the
// lanes of lavapipe's SIMD vectors (neighbouring invocations) vary along the longest
// dimension of a convolution (its positions), not the 16 to 64 channels of one column
// block, which left 7 of 8 lanes idle (measured 6x slower).
@compute @workgroup_size(WORKGROUP)
fn gemm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let p = params;
    let rows = select(2u * ROWS, ROWS, WIDE);
    let columns = select(COLS / 2u, COLS, WIDE);
    let row_blocks = (p.m + rows - 1u) / rows;
    let column_blocks = (p.n + columns - 1u) / columns;
    let t = thread_index(gid, groups);
    let chunk = t / (row_blocks * column_blocks);
    let first = chunk * p.chunk_steps;
    // Chunk 0 runs even with no steps: C is then zero.
    if first >= max(p.steps, 1u) {
        return;
    }
    let m0 = (t % row_blocks) * rows;
    let n0 = (t / row_blocks % column_blocks) * columns;
    let ra = texels8(p.a_rows, m0);
    var rb: Texels8;
    if !WIDE {
        rb = texels8(p.a_rows, m0 + ROWS);
    }
    let cb = texels8(p.b_cols, n0 / 4u);
    var top0: mat4x4<f32>;
    var bottom0: mat4x4<f32>;
    var top1: mat4x4<f32>;
    var bottom1: mat4x4<f32>;
    var top2: mat4x4<f32>;
    var bottom2: mat4x4<f32>;
    var top3: mat4x4<f32>;
    var bottom3: mat4x4<f32>;
    var top4: mat4x4<f32>;
    var bottom4: mat4x4<f32>;
    var top5: mat4x4<f32>;
    var bottom5: mat4x4<f32>;
    var top6: mat4x4<f32>;
    var bottom6: mat4x4<f32>;
    var top7: mat4x4<f32>;
    var bottom7: mat4x4<f32>;
    var a_step = digits(p.a_depth.radix, first);
    var b_step = digits(p.b_depth.radix, first);
    for (var s = first; s < min(first + p.chunk_steps, p.steps); s++) {
        let ao = texel_at(p.a_depth, a_step);
        let bo = texel_at(p.b_depth, b_step);
        a_step = next_digits(p.a_depth.radix, a_step);
        b_step = next_digits(p.b_depth.radix, b_step);
        let a_top = a_rows(ra.t0 + ao, ra.t1 + ao, ra.t2 + ao, ra.t3 + ao);
        let a_bottom = a_rows(ra.t4 + ao, ra.t5 + ao, ra.t6 + ao, ra.t7 + ao);
        // (B rows * A rows) column i = sum over the step's k of A[i, k] B[k, :]: row i of C.
        let c0 = b_rows(cb.t0 + bo);
        top0 += c0 * a_top;
        bottom0 += c0 * a_bottom;
        let c1 = b_rows(cb.t1 + bo);
        top1 += c1 * a_top;
        bottom1 += c1 * a_bottom;
        let c2 = b_rows(cb.t2 + bo);
        top2 += c2 * a_top;
        bottom2 += c2 * a_bottom;
        let c3 = b_rows(cb.t3 + bo);
        top3 += c3 * a_top;
        bottom3 += c3 * a_bottom;
        if WIDE {
            let c4 = b_rows(cb.t4 + bo);
            top4 += c4 * a_top;
            bottom4 += c4 * a_bottom;
            let c5 = b_rows(cb.t5 + bo);
            top5 += c5 * a_top;
            bottom5 += c5 * a_bottom;
            let c6 = b_rows(cb.t6 + bo);
            top6 += c6 * a_top;
            bottom6 += c6 * a_bottom;
            let c7 = b_rows(cb.t7 + bo);
            top7 += c7 * a_top;
            bottom7 += c7 * a_bottom;
        } else {
            // Rows 8..16 with the same four column groups.
            let a2_top = a_rows(rb.t0 + ao, rb.t1 + ao, rb.t2 + ao, rb.t3 + ao);
            let a2_bottom = a_rows(rb.t4 + ao, rb.t5 + ao, rb.t6 + ao, rb.t7 + ao);
            top4 += c0 * a2_top;
            bottom4 += c0 * a2_bottom;
            top5 += c1 * a2_top;
            bottom5 += c1 * a2_bottom;
            top6 += c2 * a2_top;
            bottom6 += c2 * a2_bottom;
            top7 += c3 * a2_top;
            bottom7 += c3 * a2_bottom;
        }
    }
    store_block(chunk, m0, n0, top0, bottom0);
    store_block(chunk, m0, n0 + 4u, top1, bottom1);
    store_block(chunk, m0, n0 + 8u, top2, bottom2);
    store_block(chunk, m0, n0 + 12u, top3, bottom3);
    if WIDE {
        store_block(chunk, m0, n0 + 16u, top4, bottom4);
        store_block(chunk, m0, n0 + 20u, top5, bottom5);
        store_block(chunk, m0, n0 + 24u, top6, bottom6);
        store_block(chunk, m0, n0 + 28u, top7, bottom7);
    } else {
        store_block(chunk, m0 + ROWS, n0, top4, bottom4);
        store_block(chunk, m0 + ROWS, n0 + 4u, top5, bottom5);
        store_block(chunk, m0 + ROWS, n0 + 8u, top6, bottom6);
        store_block(chunk, m0 + ROWS, n0 + 12u, top7, bottom7);
    }
}

// ---- storage-buffer loader ----------------------------------------------------------------
// A workgroup of WORKGROUP (64) invocations computes a tile of C: THREAD_ROWS x
// (64 / THREAD_ROWS) invocations, each 8 rows x 8 columns (two column groups), interleaved
// (rows tr + i * THREAD_ROWS, column groups tc + j * thread_columns) so that neighbouring
// invocations read neighbouring texels of workgroup memory. The reduction runs TILE_STEPS
// steps (16 of K) per stage: each invocation copies its rows' texels of A and its share of
// B's texels into workgroup memory, then all multiply from there. THREAD_ROWS is 8
// (64 x 64 tiles) or 16 (128 x 32); the host picks by measurement.
@group(0) @binding(7) var<storage, read> a_texels: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> b_texels: array<vec4<f32>>;

override THREAD_ROWS: u32 = 8u;
const TILE_STEPS: u32 = 4u;
// Sized for the largest tile: 128 rows (THREAD_ROWS 16) and 16 column groups (THREAD_ROWS
// 8), TILE_STEPS steps each: 12 KiB, under WebGPU's 16 KiB minimum.
var<workgroup> a_tile: array<vec4<f32>, 512>;
var<workgroup> b_tile: array<vec4<f32>, 256>;

// Texel `at` of a buffer operand, or zeros where `valid` is false.
fn a_texel(at: vec2<i32>, valid: bool) -> vec4<f32> {
    return select(vec4<f32>(0.0), a_texels[max(at.x, 0i)], valid);
}

fn b_texel(at: vec2<i32>, valid: bool) -> vec4<f32> {
    return select(vec4<f32>(0.0), b_texels[max(at.x, 0i)], valid);
}

// Four texels of the A tile for step s: rows tr + (first + i) * THREAD_ROWS, i < 4.
fn a_tile_rows(s: u32, tile_rows: u32, tr: u32, first: u32) -> mat4x4<f32> {
    let base = s * tile_rows + tr + first * THREAD_ROWS;
    return mat4x4<f32>(a_tile[base], a_tile[base + THREAD_ROWS], a_tile[base + 2u * THREAD_ROWS],
        a_tile[base + 3u * THREAD_ROWS]);
}

// B rows 4s..4s+4 of column group g of the tile.
fn b_tile_rows(s: u32, tile_groups: u32, g: u32) -> mat4x4<f32> {
    let base = 4u * s * tile_groups + g;
    return mat4x4<f32>(b_tile[base], b_tile[base + tile_groups], b_tile[base + 2u * tile_groups],
        b_tile[base + 3u * tile_groups]);
}

// C[m, n..n+4] = v for the row m of chunk `chunk`, skipping what lies outside C.
fn store_row(chunk: u32, m: u32, n: u32, v: vec4<f32>) {
    store_row_at(chunk, m, n, digits(params.c_cols.radix, n), digits(params.c_rows.radix, m), v);
}

@compute @workgroup_size(WORKGROUP)
fn gemm_tiled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) l: u32,
) {
    let p = params;
    let thread_columns = WORKGROUP / THREAD_ROWS;
    let tile_rows = 8u * THREAD_ROWS;
    let tile_groups = 2u * thread_columns;
    let row_tiles = (p.m + tile_rows - 1u) / tile_rows;
    let column_tiles = (p.n + 4u * tile_groups - 1u) / (4u * tile_groups);
    let w = wid.x + wid.y * groups.x;
    let chunk = w / (row_tiles * column_tiles);
    let first = chunk * p.chunk_steps;
    // Chunk 0 runs even with no steps: C is then zero. The test is uniform across the
    // workgroup, as the barriers below require.
    if first >= max(p.steps, 1u) {
        return;
    }
    let end = min(first + p.chunk_steps, p.steps);
    let m0 = (w % row_tiles) * tile_rows;
    let g0 = (w / row_tiles % column_tiles) * tile_groups;
    // What this invocation copies: A rows l and l + 64 (when the tile has 128), and B
    // texels (step row q, column group l % tile_groups) for q = l / tile_groups + k * q_step.
    let a_row0 = texel_at(p.a_rows, digits(p.a_rows.radix, m0 + l));
    let a_row1 = texel_at(p.a_rows, digits(p.a_rows.radix, m0 + l + WORKGROUP));
    let b_group = l % tile_groups;
    let b_col = texel_at(p.b_cols, digits(p.b_cols.radix, g0 + b_group));
    let b_valid = 4u * (g0 + b_group) < p.n;
    let q_step = WORKGROUP / tile_groups;
    let tr = l % THREAD_ROWS;
    let tc = l / THREAD_ROWS;
    var top0: mat4x4<f32>;
    var bottom0: mat4x4<f32>;
    var top1: mat4x4<f32>;
    var bottom1: mat4x4<f32>;
    var a_step = digits(p.a_depth.radix, first);
    var b_step = digits(p.b_depth.radix, first);
    for (var s0 = first; s0 < end; s0 += TILE_STEPS) {
        for (var s = 0u; s < TILE_STEPS; s++) {
            let valid = s0 + s < end;
            let ao = texel_at(p.a_depth, a_step);
            a_tile[s * tile_rows + l] = a_texel(a_row0 + ao, valid && m0 + l < p.m);
            if tile_rows > WORKGROUP {
                a_tile[s * tile_rows + l + WORKGROUP] = a_texel(a_row1 + ao, valid && m0 + l + WORKGROUP < p.m);
            }
            let bo = b_col + texel_at(p.b_depth, b_step);
            for (var r = 0u; r < 4u; r++) {
                let q = 4u * s + r;
                if q % q_step == l / tile_groups {
                    b_tile[q * tile_groups + b_group] = b_texel(bo + i32(r) * p.b_row_step, valid && b_valid);
                }
            }
            a_step = next_digits(p.a_depth.radix, a_step);
            b_step = next_digits(p.b_depth.radix, b_step);
        }
        workgroupBarrier();
        for (var s = 0u; s < TILE_STEPS; s++) {
            let a_top = a_tile_rows(s, tile_rows, tr, 0u);
            let a_bottom = a_tile_rows(s, tile_rows, tr, 4u);
            let b0 = b_tile_rows(s, tile_groups, tc);
            let b1 = b_tile_rows(s, tile_groups, tc + thread_columns);
            top0 += b0 * a_top;
            bottom0 += b0 * a_bottom;
            top1 += b1 * a_top;
            bottom1 += b1 * a_bottom;
        }
        workgroupBarrier();
    }
    let n0 = 4u * (g0 + tc);
    let n1 = 4u * (g0 + tc + thread_columns);
    for (var i = 0u; i < 4u; i++) {
        let m_top = m0 + tr + i * THREAD_ROWS;
        let m_bottom = m_top + 4u * THREAD_ROWS;
        store_row(chunk, m_top, n0, top0[i]);
        store_row(chunk, m_bottom, n0, bottom0[i]);
        store_row(chunk, m_top, n1, top1[i]);
        store_row(chunk, m_bottom, n1, bottom1[i]);
    }
}

// ---- packing a matrix as an operand (src/ops/linear.rs) ----------------------------------
// Texel (q, r) of the packed matrix holds source elements (r, 4q..4q+4), element (r, c) at
// r * row_stride + c * column_stride (a transposed read is a choice of strides), zeros
// past `rows` and `columns`. The grid is `width` texels wide and `texels` texels in all,
// stored into a buffer whose rows are `pitch` texels apart (src/gpu/texels.rs copies it
// into a texture where the GEMM reads one).
struct MatrixPacking {
    rows: u32,
    columns: u32,
    row_stride: u32,
    column_stride: u32,
    width: u32,
    texels: u32,
    pitch: u32,
}

@group(0) @binding(9) var<uniform> matrix: MatrixPacking;
@group(0) @binding(10) var<storage, read> source: array<f32>;
@group(0) @binding(11) var<storage, read_write> packed: array<vec4<f32>>;

fn matrix_texel(q: u32, r: u32) -> vec4<f32> {
    let p = matrix;
    var texel = vec4<f32>(0.0);
    for (var l = 0u; l < 4u; l++) {
        let c = 4u * q + l;
        if r < p.rows && c < p.columns {
            texel[l] = source[r * p.row_stride + c * p.column_stride];
        }
    }
    return texel;
}

@compute @workgroup_size(WORKGROUP)
fn pack_matrix(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if t < matrix.texels {
        let at = vec2<u32>(t % matrix.width, t / matrix.width);
        packed[at.y * matrix.pitch + at.x] = matrix_texel(at.x, at.y);
    }
}

// total[i] = sum over chunks of partial_sums[chunk * elements + i].
@compute @workgroup_size(WORKGROUP)
fn sum_chunks(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if i >= chunks.elements {
        return;
    }
    var sum = 0.0;
    for (var chunk = 0u; chunk < chunks.count; chunk++) {
        sum += partial_sums[chunk * chunks.elements + i];
    }
    total[i] = sum;
}
