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
// 32 x 8: the register block measured fastest on lavapipe (shared/PANN.md); 8 x 8
// invocations per workgroup matches its 8-lane SIMD groups along x (lanes share A rows).
// ROWS and COLS must match TEXTURE_BLOCK in src/ops/matmul.rs.
const ROWS: u32 = 32u;
const COLS: u32 = 8u;
const COL_VECS: u32 = COLS / 4u;

@compute @workgroup_size(8, 8)
fn texture(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n0 = gid.x * COLS;
    let m0 = gid.y * ROWS;
    if m0 >= params.m || n0 >= params.n {
        return;
    }
    var acc: array<vec4<f32>, 64>; // ROWS * COL_VECS, zero-initialised
    let b_col = i32(n0 / 4u);
    for (var k4 = 0u; k4 < params.k4; k4++) {
        let k = i32(k4 * 4u);
        var b: array<vec4<f32>, 8>; // 4 rows of B x COL_VECS
        for (var j = 0u; j < COL_VECS; j++) {
            for (var r = 0u; r < 4u; r++) {
                b[r * COL_VECS + j] = textureLoad(b_texture, vec2<i32>(b_col + i32(j), k + i32(r)), 0);
            }
        }
        for (var i = 0u; i < ROWS; i++) {
            let a = textureLoad(a_texture, vec2<i32>(i32(k4), i32(m0 + i)), 0);
            for (var j = 0u; j < COL_VECS; j++) {
                acc[i * COL_VECS + j] = fma4(acc[i * COL_VECS + j], a, b[j], b[COL_VECS + j], b[2u * COL_VECS + j], b[3u * COL_VECS + j]);
            }
        }
    }
    for (var i = 0u; i < ROWS; i++) {
        for (var j = 0u; j < COL_VECS; j++) {
            store4(m0 + i, n0 + 4u * j, acc[i * COL_VECS + j]);
        }
    }
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
