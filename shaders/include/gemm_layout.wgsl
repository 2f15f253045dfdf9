
// ---- shaders/include/gemm_layout.wgsl, appended by build.rs to the shaders that include it ----
// Where the GEMM's operands and result lie (the uniform `params`), and C's stores: shared by
// every loader of shaders/gemm.wgsl and shaders/gemm_subgroup.wgsl.
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
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

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
