//! Matrix product C = A B: A [M, K], B [K, N], C [M, N], row-major, computed by the GEMM
//! (`shaders/gemm.wgsl`) with either loader. The fastest of them is the ceiling
//! `sturdy bench` measures the other kernels against.
//!
//! The op owns its operands because the loaders store them differently (in textures or
//! in buffers of texels, K and N zero-padded to whole texels): fill them with
//! [`Matmul::write_a`] and [`Matmul::write_b`].

use crate::gpu::{Dispatch, Gpu, GpuError, Result, Tensor, Texels};

use super::expect_shape;
use super::gemm::{self, GemmLayout, Loader};

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

/// One matrix product with its padded operands and its dispatch, built once.
pub struct Matmul {
    shape: MatmulShape,
    /// Padded M, K, N.
    padded: [usize; 3],
    a: Texels,
    b: Texels,
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
    pub fn new(gpu: &Gpu, loader: Loader, shape: MatmulShape, c: &Tensor) -> Result<Matmul> {
        const OP: &str = "matmul";
        let MatmulShape { m, k, n } = shape;
        if m == 0 || k == 0 || n == 0 {
            return Err(GpuError::shape(format!("{OP}: {shape:?} has a zero dimension")));
        }
        expect_shape(OP, "c", c, &[m, n])?;
        let padded @ [_, pk, pn] = [m, k.next_multiple_of(4), n.next_multiple_of(4)];
        let a = gpu.texels(loader.storage(), pk / 4, m)?;
        let b = gpu.texels(loader.storage(), pn / 4, pk)?;
        let dispatch = gemm::dispatch(gpu, loader, &GemmLayout::matrices(m, pk / 4, n), &a, &b, c)?;
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
        operand: &Texels,
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
        gpu.write_texels(operand, &pad(data, rows, cols, padded_rows, padded_cols))
    }

    pub fn shape(&self) -> MatmulShape {
        self.shape
    }

    /// The dispatch computing C from the operands last written.
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }
}
