// Matrix product C = A B with A [M, K], B [K, N], C [M, N], all row-major f32: the
// fastest GEMM this engine can run on an adapter, the ceiling its other kernels are
// measured against. Two entry points, one per kind of adapter (src/ops/matmul.rs picks
// one from Gpu::prefers_texture_loads):
//
// - `texture`: CPU adapters (lavapipe) scalarise storage-buffer and workgroup-memory
//   loads lane by lane but gather texture loads across lanes. Each invocation reads its
//   operands straight from two rgba32float textures and keeps a ROWS x COLS block of C
//   in registers, so one texel load of A feeds 4 * COLS multiply-adds.
//   A texture: texel (k/4, m) holds A[m, k..k+4]; B texture: texel (n/4, k) holds B[k, n..n+4].
// - `tiled`: GPUs. A workgroup stages a TILE x TILE_K slab of A and a TILE_K x TILE slab
//   of B in workgroup memory, each invocation accumulates a 4 x 4 block of C.
//   A buffer: [Mp, Kp/4] vec4 rows; B buffer: [Kp, Np/4] vec4 rows.
//
// The host pads A and B with zeros to whole blocks (Mp, Kp, Np: multiples of the
// variant's block), so the inner loops need no bounds checks; the stores check m < M, n < N.

struct Params {
    m: u32,
    k: u32,
    n: u32,
    // Padded K / 4: vec4 columns of A (texels per row of the A texture).
    k4: u32,
    // Padded N / 4: vec4 columns of B and of the padded C grid.
    n4: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var a_texture: texture_2d<f32>;
@group(0) @binding(2) var b_texture: texture_2d<f32>;
@group(0) @binding(3) var<storage, read> a_buffer: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> b_buffer: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> c: array<f32>;

// Writes C[m, n..n+4] = v, skipping what lies outside C.
fn store4(m: u32, n: u32, v: vec4<f32>) {
    if m >= params.m {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        if n + j < params.n {
            c[m * params.n + n + j] = v[j];
        }
    }
}

// acc += a.x * B[k] + a.y * B[k+1] + a.z * B[k+2] + a.w * B[k+3] for four consecutive rows
// of B given as vec4 column groups: the shared micro-kernel of both variants.
fn fma4(acc: vec4<f32>, a: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) -> vec4<f32> {
    return acc + a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3;
}

// ---- texture variant ----------------------------------------------------------------
// 8 rows x 32 columns of C per invocation, the block measured fastest on lavapipe
// (shared/PANN.md; 8 x 8, 16 x 16, 32 x 8 and 8 x 64 ran at 40 to 55 % of its speed). The
// accumulators are named variables, not an array: lavapipe keeps arrays in memory, which
// costs 10x (measured). Per K step of 4: 8 texel loads of A, 32 of B, 1024 multiply-adds.
// ROWS and COLS must match TEXTURE_BLOCK in src/ops/matmul.rs.
const ROWS: u32 = 8u;
const COLS: u32 = 32u;

// 8 rows x 4 columns of C: column i of `top` is row i of the block, of `bottom` row 4 + i.
struct Block {
    top: mat4x4<f32>,
    bottom: mat4x4<f32>,
}

// Four texels down a column: A rows y..y+4 at K step x (each column of the result a row
// of A), or B rows k = y..y+4 at column group x (each column a row of B). Two functions,
// not one taking the texture: lavapipe runs 3x slower with a texture parameter (measured).
fn a_rows(x: i32, y: i32) -> mat4x4<f32> {
    return mat4x4<f32>(textureLoad(a_texture, vec2<i32>(x, y), 0), textureLoad(a_texture, vec2<i32>(x, y + 1i), 0),
        textureLoad(a_texture, vec2<i32>(x, y + 2i), 0), textureLoad(a_texture, vec2<i32>(x, y + 3i), 0));
}

fn b_rows(x: i32, y: i32) -> mat4x4<f32> {
    return mat4x4<f32>(textureLoad(b_texture, vec2<i32>(x, y), 0), textureLoad(b_texture, vec2<i32>(x, y + 1i), 0),
        textureLoad(b_texture, vec2<i32>(x, y + 2i), 0), textureLoad(b_texture, vec2<i32>(x, y + 3i), 0));
}

// acc + A B for a 4-deep slice: b's columns are 4 rows of B (4 columns of C), a's columns
// 4 rows of A; (b * a) column i = sum_k A[i, k] B[k, :], row i of C.
fn accumulate(acc: Block, b: mat4x4<f32>, a_top: mat4x4<f32>, a_bottom: mat4x4<f32>) -> Block {
    return Block(acc.top + b * a_top, acc.bottom + b * a_bottom);
}

fn store_block(m: u32, n: u32, block: Block) {
    for (var i = 0u; i < 4u; i++) {
        store4(m + i, n, block.top[i]);
        store4(m + 4u + i, n, block.bottom[i]);
    }
}

@compute @workgroup_size(8, 8)
fn texture(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n0 = gid.x * COLS;
    let m0 = gid.y * ROWS;
    if m0 >= params.m || n0 >= params.n {
        return;
    }
    let x = i32(n0 / 4u);
    let y = i32(m0);
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
    for (var k4 = 0i; k4 < i32(params.k4); k4++) {
        let k = 4i * k4;
        let a_top = a_rows(k4, y);
        let a_bottom = a_rows(k4, y + 4i);
        let b0 = b_rows(x + 0i, k);
        top0 += b0 * a_top;
        bottom0 += b0 * a_bottom;
        let b1 = b_rows(x + 1i, k);
        top1 += b1 * a_top;
        bottom1 += b1 * a_bottom;
        let b2 = b_rows(x + 2i, k);
        top2 += b2 * a_top;
        bottom2 += b2 * a_bottom;
        let b3 = b_rows(x + 3i, k);
        top3 += b3 * a_top;
        bottom3 += b3 * a_bottom;
        let b4 = b_rows(x + 4i, k);
        top4 += b4 * a_top;
        bottom4 += b4 * a_bottom;
        let b5 = b_rows(x + 5i, k);
        top5 += b5 * a_top;
        bottom5 += b5 * a_bottom;
        let b6 = b_rows(x + 6i, k);
        top6 += b6 * a_top;
        bottom6 += b6 * a_bottom;
        let b7 = b_rows(x + 7i, k);
        top7 += b7 * a_top;
        bottom7 += b7 * a_bottom;
    }
    store_block(m0, n0, Block(top0, bottom0));
    store_block(m0, n0 + 4u, Block(top1, bottom1));
    store_block(m0, n0 + 8u, Block(top2, bottom2));
    store_block(m0, n0 + 12u, Block(top3, bottom3));
    store_block(m0, n0 + 16u, Block(top4, bottom4));
    store_block(m0, n0 + 20u, Block(top5, bottom5));
    store_block(m0, n0 + 24u, Block(top6, bottom6));
    store_block(m0, n0 + 28u, Block(top7, bottom7));
}

// ---- tiled variant ---------------------------------------------------------------------
// 16 x 16 invocations, 4 x 4 outputs each: a 64 x 64 tile of C per workgroup, K in slabs
// of 16. Workgroup memory: (64 x 16 + 16 x 64) f32 = 8 KiB, well under every limit.
// TILE and TILE_K must match TILED_BLOCK in src/ops/matmul.rs.
const SIDE: u32 = 16u;
const TILE: u32 = 64u;
const TILE_K: u32 = 16u;
var<workgroup> a_tile: array<vec4<f32>, 256>; // TILE rows x TILE_K / 4 vec4
var<workgroup> b_tile: array<vec4<f32>, 256>; // TILE_K rows x TILE / 4 vec4

@compute @workgroup_size(16, 16)
fn tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let p = params;
    let m_tile = wid.y * TILE;
    let n4_tile = wid.x * (TILE / 4u);
    let flat = lid.y * SIDE + lid.x;
    var acc: array<vec4<f32>, 4>; // rows lid.y*4 .. +4, columns lid.x*4 .. +4
    for (var k0 = 0u; k0 < p.k4 * 4u; k0 += TILE_K) {
        // Every invocation stages one vec4 of each slab: 256 = TILE * TILE_K / 4.
        let a_row = flat / (TILE_K / 4u);
        let a_col = flat % (TILE_K / 4u);
        a_tile[flat] = a_buffer[(m_tile + a_row) * p.k4 + k0 / 4u + a_col];
        let b_row = flat / (TILE / 4u);
        let b_col = flat % (TILE / 4u);
        b_tile[flat] = b_buffer[(k0 + b_row) * p.n4 + n4_tile + b_col];
        workgroupBarrier();
        for (var kk = 0u; kk < TILE_K; kk += 4u) {
            let b0 = b_tile[kk * (TILE / 4u) + lid.x];
            let b1 = b_tile[(kk + 1u) * (TILE / 4u) + lid.x];
            let b2 = b_tile[(kk + 2u) * (TILE / 4u) + lid.x];
            let b3 = b_tile[(kk + 3u) * (TILE / 4u) + lid.x];
            for (var i = 0u; i < 4u; i++) {
                let a = a_tile[(lid.y * 4u + i) * (TILE_K / 4u) + kk / 4u];
                acc[i] = fma4(acc[i], a, b0, b1, b2, b3);
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        store4(m_tile + lid.y * 4u + i, (n4_tile + lid.x) * 4u, acc[i]);
    }
}
