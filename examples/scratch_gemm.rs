use sturdy::gpu::{Gpu, GpuOptions};
use sturdy::ops::matmul::{Matmul, MatmulShape, MatmulVariant};
fn main() {
    let gpu = Gpu::new(&GpuOptions::from_env()).unwrap();
    for (m, k, n) in [
        (1024, 1024, 1024),
        (16384, 16, 1024),
        (16384, 16, 32),
        (16384, 144, 16),
        (16384, 144, 32),
        (8192, 576, 64),
        (16384, 1024, 32),
    ] {
        let shape = MatmulShape { m, k, n };
        let c = gpu.zeros(&[m, n]).unwrap();
        let mm = Matmul::new(&gpu, MatmulVariant::Texture, shape, &c).unwrap();
        mm.write_a(&gpu, &vec![0.5; m * k]).unwrap();
        mm.write_b(&gpu, &vec![0.5; k * n]).unwrap();
        let t = gpu.time(&[mm.dispatch()], 2).unwrap();
        let inv = (m / 8) * n.div_ceil(32);
        println!(
            "{m}x{k}x{n}: {:.1} ms, {:.2} GFLOP/s, {:.2} us per invocation",
            t * 1e3,
            shape.flops() / t / 1e9,
            t * 1e6 / inv as f64
        );
    }
}
