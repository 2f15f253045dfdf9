// C = A B over packed operands: grids of texels (four f32 each) whose positions index maps
// in the uniform give, so the same kernels compute the matrix product (src/ops/matmul.rs),
// the linear layer (src/ops/linear.rs) and the convolutions as implicit GEMMs
// (src/ops/conv2d/). Three loaders read the operands:
// - `gemm`: textures, a register block per invocation (shaders/include/gemm_texture.wgsl),
//   for CPU adapters (lavapipe): they scalarise storage-buffer and workgroup-memory loads
//   lane by lane but gather texture loads across lanes.
// - `gemm` of shaders/gemm_subgroup.wgsl: the same blocks, B's texels shared between the
//   lanes of a subgroup, where the adapter has subgroups.
// - `gemm_tiled`: storage buffers of texels (row after row; the host flattens the maps to
//   texel indices in x), staged through workgroup memory, for GPUs.
// Which one runs is measured per adapter and shape (src/ops/variants.rs).
//
// The index maps, the uniform and C's stores are in shaders/include/gemm_layout.wgsl.
// include: gemm_layout
// include: gemm_texture

struct Chunks {
    elements: u32,
    count: u32,
}

@group(0) @binding(4) var<uniform> chunks: Chunks;
@group(0) @binding(5) var<storage, read> partial_sums: array<f32>;
@group(0) @binding(6) var<storage, read_write> total: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn gemm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let block = block_at(thread_index(gid, groups));
    if has_steps(block) {
        multiply_block(block, false);
    }
}

fn step_columns(cb: Texels8, bo: vec2<i32>, from_lanes: bool) -> ColumnGroups {
    return loaded_columns(cb, bo, block_column_groups());
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
