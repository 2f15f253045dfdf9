//! C = A B over texture operands (`shaders/gemm.wgsl`), the register-blocked loop of CPU
//! adapters. Index maps say where each operand's texels lie, so the same kernel computes
//! the plain matrix product ([`super::matmul`]) and the convolutions as implicit GEMMs
//! over packed images ([`super::conv2d`]).

use bytemuck::{Pod, Zeroable};

use crate::gpu::{Dispatch, Gpu, GpuError, Result, Tensor};

use super::dim;

/// Rows and columns of C per invocation (ROWS, COLS in the shader).
pub const GEMM_BLOCK: [usize; 2] = [8, 32];

/// A radix no index reaches: the digit is the whole index.
const WHOLE: u32 = u32::MAX;

/// Index i to texel: its mixed-radix digits d0 = i % r0, d1 = i / r0 % r1,
/// d2 = i / (r0 r1) % r2, d3 = i / (r0 r1 r2), each times its coefficient, summed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct TexelMap {
    radix: [u32; 4],
    coefficients: [[i32; 2]; 4],
}

impl TexelMap {
    pub fn new(radix: [usize; 3], coefficients: [[usize; 2]; 4]) -> TexelMap {
        TexelMap {
            radix: [dim(radix[0]), dim(radix[1]), dim(radix[2]), 0],
            coefficients: coefficients.map(|[x, y]| [dim(x) as i32, dim(y) as i32]),
        }
    }

    /// i to i * (x, y).
    pub fn linear(x: usize, y: usize) -> TexelMap {
        TexelMap::new_whole([[x, y], [0; 2], [0; 2], [0; 2]])
    }

    fn new_whole(coefficients: [[usize; 2]; 4]) -> TexelMap {
        TexelMap { radix: [WHOLE, WHOLE, WHOLE, 0], ..TexelMap::new([1; 3], coefficients) }
    }
}

/// Index i to an element offset of C: the same digits as [`TexelMap`], scalar
/// coefficients. The shader steps four consecutive columns along digit 0, so for
/// columns its radix must be a multiple of 4.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct IndexMap {
    radix: [u32; 4],
    coefficients: [u32; 4],
}

impl IndexMap {
    pub fn new(radix: [usize; 3], coefficients: [usize; 4]) -> IndexMap {
        IndexMap { radix: [dim(radix[0]), dim(radix[1]), dim(radix[2]), 0], coefficients: coefficients.map(dim) }
    }

    /// i to i * stride.
    pub fn linear(stride: usize) -> IndexMap {
        IndexMap { radix: [WHOLE, WHOLE, WHOLE, 0], coefficients: [dim(stride), 0, 0, 0] }
    }
}

/// Where everything lies; see shaders/gemm.wgsl. The uniform block, field order matters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
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
    /// WGSL aligns the maps that follow to 16 bytes.
    pub _align: [i32; 2],
    pub a_rows: TexelMap,
    pub a_depth: TexelMap,
    pub b_cols: TexelMap,
    pub b_depth: TexelMap,
    pub c_rows: IndexMap,
    pub c_cols: IndexMap,
}

impl GemmLayout {
    /// Row-major matrices: A texel (k/4, m), B texel (n/4, k), C [M, N]; every column stored.
    pub fn matrices(m: usize, k4: usize, n: usize) -> GemmLayout {
        GemmLayout {
            m: dim(m),
            n: dim(n),
            steps: dim(k4),
            n_inner: WHOLE,
            b_row_step: [0, 1],
            _align: [0; 2],
            a_rows: TexelMap::linear(0, 1),
            a_depth: TexelMap::linear(1, 0),
            b_cols: TexelMap::linear(1, 0),
            b_depth: TexelMap::linear(0, 4),
            c_rows: IndexMap::linear(n),
            c_cols: IndexMap::linear(1),
        }
    }
}

/// The dispatch computing C (a buffer of f32 the maps index) from textures `a` and `b`.
pub fn dispatch(gpu: &Gpu, layout: &GemmLayout, a: &wgpu::Texture, b: &wgpu::Texture, c: &Tensor) -> Result<Dispatch> {
    let kernel = gpu.kernel("gemm", "gemm", &[])?;
    let [wx, wy, _] = kernel.workgroup_size().map(|s| s as usize);
    let [rows, cols] = GEMM_BLOCK;
    let workgroups = [(layout.n as usize).div_ceil(cols).div_ceil(wx), (layout.m as usize).div_ceil(rows).div_ceil(wy)];
    let grid_limit = gpu.limits.max_compute_workgroups_per_dimension as usize;
    if workgroups.iter().any(|&g| g > grid_limit) {
        return Err(GpuError::shape(format!(
            "gemm: {} x {} needs {workgroups:?} workgroups, above this adapter's {grid_limit} per dimension",
            layout.m, layout.n
        )));
    }
    let params = gpu.uniform(layout);
    let (a_view, b_view) = (a.create_view(&Default::default()), b.create_view(&Default::default()));
    let bindings = [
        (0, params.as_entire_binding()),
        (1, wgpu::BindingResource::TextureView(&a_view)),
        (2, wgpu::BindingResource::TextureView(&b_view)),
        (3, c.buffer().as_entire_binding()),
    ];
    gpu.dispatch_resources(&kernel, &bindings, [dim(workgroups[0]), dim(workgroups[1]), 1])
}
