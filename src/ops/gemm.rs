//! C = A B over texture operands (`shaders/gemm.wgsl`), the register-blocked loop of CPU
//! adapters. Index maps say where each operand's texels lie, so the same kernel computes
//! the plain matrix product ([`super::matmul`]) and the convolutions as implicit GEMMs
//! over packed images ([`super::conv2d`]).

use crate::gpu::{shader_constant, Bindable, Dispatch, Gpu, Result, Tensor};

use super::dim;

/// Rows and columns of C per invocation: the wide block ROWS x COLS of shaders/gemm.wgsl,
/// and the narrow one (WIDE = false: twice the rows, half the columns) that the shader
/// uses for C of at most COLS / 2 columns.
pub fn block_shapes() -> Result<[[usize; 2]; 2]> {
    let [rows, columns] = [shader_constant("gemm", "ROWS")?, shader_constant("gemm", "COLS")?];
    Ok([[rows, columns], [2 * rows, columns / 2]])
}

/// A radix no index reaches: the digit is the whole index.
pub const WHOLE: usize = u32::MAX as usize;

crate::uniform! {
    /// Index i to texel: its mixed-radix digits d0 = i % r0, d1 = i / r0 % r1,
    /// d2 = i / (r0 r1) % r2, d3 = i / (r0 r1 r2), each times its coefficient, summed, plus
    /// an origin.
    #[derive(Debug)]
    pub struct TexelMap {
        radix: [u32; 4],
        origin: [i32; 2],
        /// The coefficient of each digit (c0..c3: a uniform array of vec2 would need
        /// a 16-byte stride).
        c0: [i32; 2],
        c1: [i32; 2],
        c2: [i32; 2],
        c3: [i32; 2],
        /// WGSL rounds the struct up to a multiple of 16 bytes.
        _pad: [i32; 2],
    }
}

impl TexelMap {
    pub fn new(radix: [usize; 3], coefficients: [[usize; 2]; 4]) -> TexelMap {
        let [c0, c1, c2, c3] = coefficients.map(|[x, y]| [dim(x) as i32, dim(y) as i32]);
        TexelMap {
            radix: [dim(radix[0]), dim(radix[1]), dim(radix[2]), 0],
            origin: [0; 2],
            c0,
            c1,
            c2,
            c3,
            _pad: [0; 2],
        }
    }

    pub fn with_origin(self, [x, y]: [usize; 2]) -> TexelMap {
        TexelMap { origin: [dim(x) as i32, dim(y) as i32], ..self }
    }

    /// i to i * (x, y).
    pub fn linear(x: usize, y: usize) -> TexelMap {
        TexelMap::new([WHOLE; 3], [[x, y], [0; 2], [0; 2], [0; 2]])
    }
}

crate::uniform! {
    /// Index i to an element offset of C: the same digits as [`TexelMap`], scalar
    /// coefficients. The shader steps four consecutive columns along digit 0, so for
    /// columns its radix must be a multiple of 4.
    #[derive(Debug)]
    pub struct IndexMap {
        radix: [u32; 4],
        coefficient: [u32; 4],
        origin: u32,
        /// WGSL rounds the struct up to a multiple of 16 bytes.
        _pad: [u32; 3],
    }
}

impl IndexMap {
    pub fn new(radix: [usize; 3], coefficients: [usize; 4]) -> IndexMap {
        IndexMap {
            radix: [dim(radix[0]), dim(radix[1]), dim(radix[2]), 0],
            coefficient: coefficients.map(dim),
            origin: 0,
            _pad: [0; 3],
        }
    }

    pub fn with_origin(self, origin: usize) -> IndexMap {
        IndexMap { origin: dim(origin), ..self }
    }

    /// i to i * stride.
    pub fn linear(stride: usize) -> IndexMap {
        IndexMap::new([WHOLE; 3], [stride, 0, 0, 0])
    }
}

crate::uniform! {
    /// Where everything lies; see shaders/gemm.wgsl. The uniform block, field order matters.
    #[derive(Debug)]
    pub struct GemmLayout {
        pub m: u32,
        pub n: u32,
        /// K / 4: the reduction's steps, each one texel of A per row.
        pub steps: u32,
        /// C[m, n] is stored only where digit 0 of n (in `c_cols`) is below this: the valid
        /// channels of a padded channel group.
        pub n_inner: u32,
        /// Texel offset between the four B rows of a step.
        pub b_row_step: [i32; 2],
        /// Split K: steps per chunk ([`split_k`] sets it; `steps` for one chunk) ...
        pub chunk_steps: u32,
        /// ... and the element offset of each chunk's sums past the previous chunk's.
        pub chunk_stride: u32,
        pub a_rows: TexelMap,
        pub a_depth: TexelMap,
        pub b_cols: TexelMap,
        pub b_depth: TexelMap,
        pub c_rows: IndexMap,
        pub c_cols: IndexMap,
    }
}

impl GemmLayout {
    /// A product of `steps` steps whose A lies where `a_rows` (row m) plus `a_depth` (step)
    /// say and whose C elements lie where `c_rows` plus `c_cols` say; B is a row-major
    /// matrix in texels (n/4, k), as `matrices` and the convolutions' packed weights hold
    /// it; every column is stored; one chunk.
    pub fn new(
        m: usize,
        n: usize,
        steps: usize,
        [a_rows, a_depth]: [TexelMap; 2],
        [c_rows, c_cols]: [IndexMap; 2],
    ) -> GemmLayout {
        GemmLayout {
            m: dim(m),
            n: dim(n),
            steps: dim(steps),
            n_inner: dim(WHOLE),
            b_row_step: [0, 1],
            chunk_steps: dim(steps),
            chunk_stride: 0,
            a_rows,
            a_depth,
            b_cols: TexelMap::linear(1, 0),
            b_depth: TexelMap::linear(0, 4),
            c_rows,
            c_cols,
        }
    }

    /// Row-major matrices: A texel (k/4, m), B texel (n/4, k), C [M, N].
    pub fn matrices(m: usize, k4: usize, n: usize) -> GemmLayout {
        let a = [TexelMap::linear(0, 1), TexelMap::linear(1, 0)];
        GemmLayout::new(m, n, k4, a, [IndexMap::linear(n), IndexMap::linear(1)])
    }
}

/// Invocations a split-K product aims for: enough for every SIMD lane of a many-core CPU.
const SPLIT_INVOCATIONS: usize = 1024;
/// Steps a chunk keeps at least, so that its per-invocation set-up stays negligible.
const MIN_CHUNK_STEPS: usize = 64;

crate::uniform! {
    /// The uniform block `Chunks` of shaders/gemm.wgsl.
    pub(crate) struct Chunks {
        elements: u32,
        count: u32,
    }
}

/// Blocks of C, and whether they are the wide ones.
fn blocks(layout: &GemmLayout) -> Result<(usize, bool)> {
    let [wide_block, narrow_block] = block_shapes()?;
    let wide = layout.n as usize > narrow_block[1];
    let [rows, columns] = if wide { wide_block } else { narrow_block };
    Ok(((layout.m as usize).div_ceil(rows) * (layout.n as usize).div_ceil(columns), wide))
}

/// The dispatch computing C (a buffer of f32 the maps index) from textures `a` and `b`,
/// each chunk of `layout` into its own part of `c`.
pub fn dispatch(gpu: &Gpu, layout: &GemmLayout, a: &wgpu::Texture, b: &wgpu::Texture, c: &Tensor) -> Result<Dispatch> {
    let (blocks, wide) = blocks(layout)?;
    let kernel = gpu.kernel("gemm", "gemm", &[("WIDE", f64::from(u8::from(wide)))])?;
    let invocations = blocks * (layout.steps as usize).div_ceil(layout.chunk_steps.max(1) as usize).max(1);
    let params = gpu.uniform(layout);
    let (a_view, b_view) = (a.create_view(&Default::default()), b.create_view(&Default::default()));
    let bindings: &[(&str, &dyn Bindable)] = &[("params", &params), ("a", &a_view), ("b", &b_view), ("c", c)];
    gpu.dispatch(&kernel, bindings, kernel.grid_1d(invocations))
}

/// C for products with few blocks of C but a long reduction (a weight gradient sums over
/// every position of the batch): K is split into chunks reduced in parallel into a
/// scratch buffer, then added into `c` ([C's elements]). Two dispatches.
pub fn split_k(
    gpu: &Gpu,
    layout: &GemmLayout,
    a: &wgpu::Texture,
    b: &wgpu::Texture,
    c: &Tensor,
) -> Result<Vec<Dispatch>> {
    let (blocks, _) = blocks(layout)?;
    let steps = layout.steps as usize;
    let chunks = SPLIT_INVOCATIONS.div_ceil(blocks).min(steps.div_ceil(MIN_CHUNK_STEPS)).max(1);
    let chunk_steps = steps.div_ceil(chunks);
    let chunks = steps.div_ceil(chunk_steps);
    let split = GemmLayout { chunk_steps: dim(chunk_steps), chunk_stride: dim(c.len()), ..*layout };
    let partial_sums = gpu.zeros(&[chunks, c.len()])?;
    let product = dispatch(gpu, &split, a, b, &partial_sums)?;
    let kernel = gpu.kernel("gemm", "sum_chunks", &[])?;
    let uniform = gpu.uniform(&Chunks { elements: dim(c.len()), count: dim(chunks) });
    let bindings: &[(&str, &dyn Bindable)] = &[("chunks", &uniform), ("partial_sums", &partial_sums), ("total", c)];
    Ok(vec![product, gpu.dispatch_1d(&kernel, bindings, c.len())?])
}
