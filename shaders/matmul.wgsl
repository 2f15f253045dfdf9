// Matrix product C = A B with A [M, K], B [K, N], C [M, N], all row-major f32, for GPUs:
// a workgroup stages a TILE x TILE_K slab of A and a TILE_K x TILE slab of B in workgroup
// memory, each invocation accumulates a 4 x 4 block of C. CPU adapters run the texture
// GEMM of shaders/gemm.wgsl instead (src/ops/matmul.rs picks by Gpu::prefers_texture_loads).
// A buffer: [Mp, Kp/4] vec4 rows; B buffer: [Kp, Np/4] vec4 rows. The host pads A and B
// with zeros to whole tiles (Mp, Kp, Np), so the inner loop needs no bounds checks; the
// stores check m < M, n < N.

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
// of B given as vec4 column groups.
fn fma4(acc: vec4<f32>, a: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) -> vec4<f32> {
    return acc + a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3;
}

// ---- tiled variant ---------------------------------------------------------------------
// 16 x 16 invocations, 4 x 4 outputs each: a 64 x 64 tile of C per workgroup, K in slabs
// of 16. Workgroup memory: (64 x 16 + 16 x 64) f32 = 8 KiB, well under every limit.
// The host pads its operands to whole tiles, reading TILE and TILE_K from here.
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
