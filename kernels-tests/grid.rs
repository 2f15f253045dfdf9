//! `quotient` (shaders/common/grid.wgsl): floor(a / d) through f32 division, exact for
//! a < 2^30 and 1 <= d < 2^30. Checked on the adapter against integer division, at the
//! values where a rounded f32 quotient would truncate wrongly: multiples of d and their
//! neighbours, up to the largest a, for divisors from 1 to beyond f32's 24-bit mantissa.
//! Where f32 division is correctly rounded (lavapipe) the final corrections by one are
//! rarely needed (these pairs passed with either one removed); they are mostly for
//! adapters with WGSL's 2.5-ulp division.

use sturdy::gpu::shader_constant;
use sturdy::gpu::shaders::source;

use rand::Rng;

use crate::harness::{gpu, Case};

/// A kernel writing quotient(a[i], d[i]), appended to a shader that carries the common code.
const ENTRY: &str = "
@group(0) @binding(0) var<storage, read> numerators: array<u32>;
@group(0) @binding(1) var<storage, read> divisors: array<u32>;
@group(0) @binding(2) var<storage, read_write> quotients: array<u32>;

@compute @workgroup_size(WORKGROUP)
fn quotients_test(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if i < arrayLength(&quotients) {
        quotients[i] = quotient(numerators[i], divisors[i]);
    }
}
";

const LIMIT: u32 = 1 << 30;

/// (a, d) pairs: around multiples k d (k from 0 up to the largest below 2^30, and random),
/// for small divisors, index-like ones (planes, rows, texture widths) and huge ones.
fn cases(case: &mut Case) -> Vec<(u32, u32)> {
    let mut divisors: Vec<u32> =
        vec![1, 2, 3, 4, 7, 16, 49, 196, 784, 1000, 1023, 16384, 65537, 1 << 24, (1 << 24) + 1];
    divisors.extend([(1 << 29) + 3, LIMIT - 1]);
    divisors.extend((0..16).map(|_| case.rng.random_range(1..LIMIT)));
    let mut pairs = Vec::new();
    for &d in &divisors {
        let last = (LIMIT - 1) / d;
        let mut multiples: Vec<u32> = vec![0, 1, 2, last.saturating_sub(1), last];
        multiples.extend((0..64).map(|_| case.rng.random_range(0..=last)));
        for k in multiples {
            let base = k as u64 * d as u64;
            for offset in [-1i64, 0, 1, d as i64 - 1, d as i64 / 2] {
                let a = base as i64 + offset;
                if (0..LIMIT as i64).contains(&a) {
                    pairs.push((a as u32, d));
                }
            }
        }
    }
    pairs.extend((0..4096).map(|_| (case.rng.random_range(0..LIMIT), case.rng.random_range(1..LIMIT))));
    pairs
}

/// Invocations per workgroup of the test kernel (grid.wgsl's WORKGROUP).
fn workgroup() -> usize {
    shader_constant("fill", "WORKGROUP").unwrap()
}

/// quotient(a, d) for each pair, computed on the adapter by a kernel of its own (raw wgpu:
/// the engine's kernels come from shaders/*.wgsl only).
fn gpu_quotients(pairs: &[(u32, u32)]) -> Vec<u32> {
    let gpu = gpu();
    let text = format!("{}{ENTRY}", source("fill").expect("fill.wgsl exists"));
    let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("quotient test"),
        source: wgpu::ShaderSource::Wgsl(text.into()),
    });
    let pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("quotient test"),
        layout: None,
        module: &module,
        entry_point: Some("quotients_test"),
        compilation_options: Default::default(),
        cache: None,
    });
    let (numerators, divisors): (Vec<u32>, Vec<u32>) = pairs.iter().copied().unzip();
    let n = pairs.len();
    let tensors = [numerators, divisors, vec![u32::MAX; n]].map(|values| gpu.upload(&[n], &values).unwrap());
    let entries: Vec<wgpu::BindGroupEntry> = (0..3)
        .map(|i| wgpu::BindGroupEntry { binding: i, resource: tensors[i as usize].buffer().as_entire_binding() })
        .collect();
    let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    });
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(n.div_ceil(workgroup()) as u32, 1, 1);
    }
    gpu.queue.submit([encoder.finish()]);
    gpu.download::<u32>(&tensors[2]).unwrap()
}

#[test]
fn quotient_is_integer_division_below_two_to_the_thirty() {
    let mut case = Case::new("quotient");
    let pairs = cases(&mut case);
    assert!(pairs.len() < workgroup() * 65535, "one row of workgroups");
    let got = gpu_quotients(&pairs);
    let wrong: Vec<String> = pairs
        .iter()
        .zip(&got)
        .filter(|&(&(a, d), &q)| q != a / d)
        .map(|(&(a, d), q)| format!("{a} / {d}: {q}, expected {}", a / d))
        .collect();
    assert!(
        wrong.is_empty(),
        "{}: {} of {} wrong, e.g. {}",
        case.context(),
        wrong.len(),
        pairs.len(),
        wrong[..wrong.len().min(5)].join("; ")
    );
}
