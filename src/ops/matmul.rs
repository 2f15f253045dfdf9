//! Matrix product C = A B (`shaders/matmul.wgsl`): A [M, K], B [K, N], C [M, N], row-major.
//! The fastest GEMM this engine has for an adapter, and so the ceiling `sturdy bench`
//! measures the other kernels against.
//!
//! The variant is chosen per adapter in one place, [`MatmulVariant::for_gpu`]: texture
//! loads with an 8 x 32 register block (16 x 16 for N <= 16) on CPU adapters (lavapipe), workgroup-memory tiles
//! on GPUs. The op owns its operands because the variants store them differently (in
//! textures or in buffers, zero-padded to whole blocks): fill them with
//! [`Matmul::write_a`] and [`Matmul::write_b`].

use crate::gpu::{shader_constant, Bindable, Dispatch, Gpu, GpuError, Result, Tensor};

use super::gemm::{self, GemmLayout};
use super::{dim, expect_shape};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulVariant {
    /// Operands in rgba32float textures, an 8 x 32 (or 16 x 16) block of C per invocation.
    Texture,
    /// Operands in storage buffers staged through workgroup memory, 64 x 64 per workgroup.
    Tiled,
}

impl MatmulVariant {
    /// Texture loads where the adapter prefers them ([`Gpu::prefers_texture_loads`]).
    pub fn for_gpu(gpu: &Gpu) -> MatmulVariant {
        if gpu.prefers_texture_loads() {
            MatmulVariant::Texture
        } else {
            MatmulVariant::Tiled
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MatmulVariant::Texture => "texture",
            MatmulVariant::Tiled => "tiled",
        }
    }

    /// (rows of A, columns of A = rows of B, columns of B) the variant's blocks cover,
    /// read from the shaders: the host pads to multiples of these (texture: the larger of
    /// both block shapes, and one texel of K).
    fn block(self) -> Result<[usize; 3]> {
        match self {
            MatmulVariant::Texture => {
                let [[_, wide_columns], [narrow_rows, _]] = gemm::block_shapes()?;
                Ok([narrow_rows, 4, wide_columns])
            }
            MatmulVariant::Tiled => {
                let [tile, tile_k] = [shader_constant("matmul", "TILE")?, shader_constant("matmul", "TILE_K")?];
                Ok([tile, tile_k, tile])
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulShape {
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

impl MatmulShape {
    /// 2 M N K: one multiply and one add per term.
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }
}

crate::uniform! {
    /// The uniform block of shaders/matmul.wgsl (field order matters).
    pub(crate) struct Params {
        m: u32,
        k: u32,
        n: u32,
        k4: u32,
        n4: u32,
    }
}

/// Where a variant keeps an operand.
enum Operand {
    Texture(wgpu::Texture),
    Buffer(Tensor),
}

/// One matrix product with its padded operands and its dispatch, built once.
pub struct Matmul {
    shape: MatmulShape,
    /// Padded M, K, N.
    padded: [usize; 3],
    a: Operand,
    b: Operand,
    dispatch: Dispatch,
}

/// `data` as a `rows` x `cols` row-major matrix, zero-padded to `padded_rows` x `padded_cols`.
fn pad(data: &[f32], rows: usize, cols: usize, padded_rows: usize, padded_cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; padded_rows * padded_cols];
    for (r, row) in data.chunks_exact(cols).take(rows).enumerate() {
        out[r * padded_cols..r * padded_cols + cols].copy_from_slice(row);
    }
    out
}

impl Matmul {
    /// C = A B into `c` [M, N] with zero operands until written.
    pub fn new(gpu: &Gpu, variant: MatmulVariant, shape: MatmulShape, c: &Tensor) -> Result<Matmul> {
        const OP: &str = "matmul";
        let MatmulShape { m, k, n } = shape;
        if m == 0 || k == 0 || n == 0 {
            return Err(GpuError::shape(format!("{OP}: {shape:?} has a zero dimension")));
        }
        expect_shape(OP, "c", c, &[m, n])?;
        let [bm, bk, bn] = variant.block()?;
        let padded @ [pm, pk, pn] = [m.next_multiple_of(bm), k.next_multiple_of(bk), n.next_multiple_of(bn)];
        let (a, b, dispatch) = match variant {
            MatmulVariant::Texture => {
                let a = gpu.texture(pk / 4, pm)?;
                let b = gpu.texture(pn / 4, pk)?;
                let dispatch = gemm::dispatch(gpu, &GemmLayout::matrices(m, pk / 4, n), &a, &b, c)?;
                (Operand::Texture(a), Operand::Texture(b), dispatch)
            }
            MatmulVariant::Tiled => {
                let a = gpu.zeros(&[pm, pk])?;
                let b = gpu.zeros(&[pk, pn])?;
                let params = gpu.uniform(&Params { m: dim(m), k: dim(k), n: dim(n), k4: dim(pk / 4), n4: dim(pn / 4) });
                let kernel = gpu.kernel("matmul", "tiled", &[])?;
                let workgroups = [dim(pn / bn), dim(pm / bm), 1];
                let bindings: &[(&str, &dyn Bindable)] =
                    &[("params", &params), ("a_buffer", &a), ("b_buffer", &b), ("c", c)];
                let dispatch = gpu.dispatch(&kernel, bindings, workgroups)?;
                (Operand::Buffer(a), Operand::Buffer(b), dispatch)
            }
        };
        Ok(Matmul { shape, padded, a, b, dispatch })
    }

    /// Sets A from `a`, [M, K] row-major.
    pub fn write_a(&self, gpu: &Gpu, a: &[f32]) -> Result<()> {
        let [pm, pk, _] = self.padded;
        self.write(gpu, "a", &self.a, a, [self.shape.m, self.shape.k], [pm, pk])
    }

    /// Sets B from `b`, [K, N] row-major.
    pub fn write_b(&self, gpu: &Gpu, b: &[f32]) -> Result<()> {
        let [_, pk, pn] = self.padded;
        self.write(gpu, "b", &self.b, b, [self.shape.k, self.shape.n], [pk, pn])
    }

    fn write(
        &self,
        gpu: &Gpu,
        name: &str,
        operand: &Operand,
        data: &[f32],
        [rows, cols]: [usize; 2],
        [padded_rows, padded_cols]: [usize; 2],
    ) -> Result<()> {
        if data.len() != rows * cols {
            return Err(GpuError::shape(format!(
                "matmul: {name} has {} elements, expected {rows} x {cols} = {}",
                data.len(),
                rows * cols
            )));
        }
        let padded = pad(data, rows, cols, padded_rows, padded_cols);
        match operand {
            Operand::Texture(texture) => gpu.write_texture(texture, &padded),
            Operand::Buffer(tensor) => gpu.write(tensor, &padded),
        }
    }

    pub fn shape(&self) -> MatmulShape {
        self.shape
    }

    /// The dispatch computing C from the operands last written.
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }
}
