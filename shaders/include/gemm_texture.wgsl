
// ---- shaders/include/gemm_texture.wgsl, appended by build.rs to the shaders that include it ----
// The texture loader's register blocks (shaders/gemm.wgsl, shaders/gemm_subgroup.wgsl): the
// including shader's entry point finds its block (`block_at`) and multiplies it
// (`multiply_block`), taking B's texels of each step from its own `step_columns`.
//
// Each invocation keeps a ROWS x COLS block of C in registers. A K step of 4 reads one
// texel of A per row (A[m, 4s..4s+4]) and four texels of B per column group
// (B[4s + r, n..n+4] for r = 0..3): 8 + 32 loads feed 1024 multiply-adds.

@group(0) @binding(1) var a: texture_2d<f32>;
@group(0) @binding(2) var b: texture_2d<f32>;

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

// Row blocks are counted in whole ROW_QUANTUMs (blocks past M are multiplied but not
// stored), so that every aligned ROW_QUANTUM of invocations shares a column block and a
// chunk (shaders/gemm_subgroup.wgsl's lanes share B's texels where it does). The host
// sets it (src/ops/gemm.rs).
override ROW_QUANTUM: u32 = 1u;

// A block of C: rows m0.., columns n0.. of chunk `chunk`, whose steps start at `first`.
struct Block {
    m0: u32,
    n0: u32,
    chunk: u32,
    first: u32,
}

fn block_rows() -> u32 {
    return select(2u * ROWS, ROWS, WIDE);
}

fn block_columns() -> u32 {
    return select(COLS / 2u, COLS, WIDE);
}

// Column groups (of four columns) in a block: 8 wide, 4 narrow.
fn block_column_groups() -> u32 {
    return block_columns() / 4u;
}

// Invocation t takes row block t % row blocks, then column blocks, then chunks: the
// lanes of lavapipe's SIMD vectors (neighbouring invocations) vary along the longest
// dimension of a convolution (its positions), not the 16 to 64 channels of one column
// block, which left 7 of 8 lanes idle (measured 6x slower).
fn block_at(t: u32) -> Block {
    let p = params;
    let rows = block_rows();
    let columns = block_columns();
    let row_blocks = (p.m + rows * ROW_QUANTUM - 1u) / (rows * ROW_QUANTUM) * ROW_QUANTUM;
    let column_blocks = (p.n + columns - 1u) / columns;
    let chunk = t / (row_blocks * column_blocks);
    return Block((t % row_blocks) * rows, (t / row_blocks % column_blocks) * columns, chunk, chunk * p.chunk_steps);
}

// Whether the block has steps to reduce. Chunk 0 runs even with none: C is then zero.
fn has_steps(block: Block) -> bool {
    return block.first < max(params.steps, 1u);
}

// B's texels of one step for each column group of a block, rows 4s..4s+4 (b_rows);
// g4..g7 are unused in a narrow block.
struct ColumnGroups {
    g0: mat4x4<f32>,
    g1: mat4x4<f32>,
    g2: mat4x4<f32>,
    g3: mat4x4<f32>,
    g4: mat4x4<f32>,
    g5: mat4x4<f32>,
    g6: mat4x4<f32>,
    g7: mat4x4<f32>,
}

// B's texels of the step at depth `bo` for the first `count` (1, 2, 4 or 8) column groups
// at `cb`, loaded (`count` is a constant once the overrides are set).
fn loaded_columns(cb: Texels8, bo: vec2<i32>, count: u32) -> ColumnGroups {
    var groups: ColumnGroups;
    groups.g0 = b_rows(cb.t0 + bo);
    if count > 1u {
        groups.g1 = b_rows(cb.t1 + bo);
    }
    if count > 2u {
        groups.g2 = b_rows(cb.t2 + bo);
        groups.g3 = b_rows(cb.t3 + bo);
    }
    if count > 4u {
        groups.g4 = b_rows(cb.t4 + bo);
        groups.g5 = b_rows(cb.t5 + bo);
        groups.g6 = b_rows(cb.t6 + bo);
        groups.g7 = b_rows(cb.t7 + bo);
    }
    return groups;
}

// C over one block: its steps, then its stores. B's texels come from the including
// shader's `step_columns(cb, bo, from_lanes)`: the column groups' positions, the step's depth,
// and `from_lanes` as given here (whether the lanes of a subgroup share B's texels, in
// shaders/gemm_subgroup.wgsl; the entry point passes a constant, so that each of its
// calls is compiled with one form of the step).
fn multiply_block(block: Block, from_lanes: bool) {
    let p = params;
    let ra = texels8(p.a_rows, block.m0);
    var rb: Texels8;
    if !WIDE {
        rb = texels8(p.a_rows, block.m0 + ROWS);
    }
    let cb = texels8(p.b_cols, block.n0 / 4u);
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
    var a_step = digits(p.a_depth.radix, block.first);
    var b_step = digits(p.b_depth.radix, block.first);
    for (var s = block.first; s < min(block.first + p.chunk_steps, p.steps); s++) {
        let ao = texel_at(p.a_depth, a_step);
        let bo = texel_at(p.b_depth, b_step);
        a_step = next_digits(p.a_depth.radix, a_step);
        b_step = next_digits(p.b_depth.radix, b_step);
        let a_top = a_rows(ra.t0 + ao, ra.t1 + ao, ra.t2 + ao, ra.t3 + ao);
        let a_bottom = a_rows(ra.t4 + ao, ra.t5 + ao, ra.t6 + ao, ra.t7 + ao);
        // (B rows * A rows) column i = sum over the step's k of A[i, k] B[k, :]: row i of C.
        let b = step_columns(cb, bo, from_lanes);
        top0 += b.g0 * a_top;
        bottom0 += b.g0 * a_bottom;
        top1 += b.g1 * a_top;
        bottom1 += b.g1 * a_bottom;
        top2 += b.g2 * a_top;
        bottom2 += b.g2 * a_bottom;
        top3 += b.g3 * a_top;
        bottom3 += b.g3 * a_bottom;
        if WIDE {
            top4 += b.g4 * a_top;
            bottom4 += b.g4 * a_bottom;
            top5 += b.g5 * a_top;
            bottom5 += b.g5 * a_bottom;
            top6 += b.g6 * a_top;
            bottom6 += b.g6 * a_bottom;
            top7 += b.g7 * a_top;
            bottom7 += b.g7 * a_bottom;
        } else {
            // Rows 8..16 with the same four column groups.
            let a2_top = a_rows(rb.t0 + ao, rb.t1 + ao, rb.t2 + ao, rb.t3 + ao);
            let a2_bottom = a_rows(rb.t4 + ao, rb.t5 + ao, rb.t6 + ao, rb.t7 + ao);
            top4 += b.g0 * a2_top;
            bottom4 += b.g0 * a2_bottom;
            top5 += b.g1 * a2_top;
            bottom5 += b.g1 * a2_bottom;
            top6 += b.g2 * a2_top;
            bottom6 += b.g2 * a2_bottom;
            top7 += b.g3 * a2_top;
            bottom7 += b.g3 * a2_bottom;
        }
    }
    let chunk = block.chunk;
    let m0 = block.m0;
    let n0 = block.n0;
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
