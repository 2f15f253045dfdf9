use sturdy::gpu::{Gpu, GpuError, GpuOptions};

use crate::harness::gpu;

#[test]
fn tensors_round_trip_and_count_allocations() {
    let before = gpu().buffers_created();
    let data: Vec<f32> = (0..37).map(|i| i as f32 * 0.5 - 3.0).collect();
    let tensor = gpu().upload(&[37], &data).unwrap();
    assert_eq!(gpu().download::<f32>(&tensor).unwrap(), data);
    let labels: Vec<u32> = (0..9).collect();
    assert_eq!(gpu().download::<u32>(&gpu().upload(&[3, 3], &labels).unwrap()).unwrap(), labels);
    assert!(gpu().buffers_created() >= before + 2);
}

#[test]
fn oversized_tensor_names_the_limit() {
    let rows = gpu().limits.max_storage_buffer_binding_size as usize / 4 + 1;
    match gpu().zeros(&[rows, 1]) {
        Err(GpuError::TensorTooLarge { limit_name, .. }) => assert_eq!(limit_name, "max_storage_buffer_binding_size"),
        other => panic!("expected TensorTooLarge, got {:?}", other.err()),
    }
}

#[test]
fn empty_and_mismatched_data_are_rejected() {
    assert!(matches!(gpu().zeros(&[3, 0]), Err(GpuError::EmptyTensor { .. })));
    assert!(matches!(gpu().upload(&[2, 2], &[1.0f32; 3]), Err(GpuError::Shape(_))));
}

#[test]
fn unknown_adapter_lists_the_available_ones() {
    let options = GpuOptions { adapter: Some("no-such-adapter-xyz".into()), ..Default::default() };
    match Gpu::new(&options) {
        Err(GpuError::AdapterNotFound { available, .. }) => {
            assert!(available.contains(&gpu().info.name), "{available}")
        }
        other => panic!("expected AdapterNotFound, got {:?}", other.err().map(|e| e.to_string())),
    }
}

#[test]
fn kernels_are_compiled_once() {
    let first = gpu().kernel("relu", "forward", &[]).unwrap();
    let second = gpu().kernel("relu", "forward", &[]).unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &second));
}

#[test]
fn missing_binding_and_unknown_entry_are_clear_errors() {
    let kernel = gpu().kernel("relu", "forward", &[]).unwrap();
    let x = gpu().zeros(&[4]).unwrap();
    match gpu().dispatch_1d(&kernel, &[("x", &x)], 4) {
        Err(GpuError::MissingBinding { binding, .. }) => assert_eq!(binding, "params"),
        other => panic!("expected MissingBinding, got {:?}", other.err().map(|e| e.to_string())),
    }
    let error = gpu().kernel("relu", "no_such_entry", &[]).err().unwrap().to_string();
    assert!(error.contains("relu.wgsl") && error.contains("no_such_entry"), "{error}");
}

/// A submission's time is positive and lies within the wall time around it: with
/// timestamps it is the GPU's, from before the first dispatch to after the last (a wrong
/// tick period would put it outside).
#[test]
fn a_submission_is_timed_within_its_wall_time() {
    let x = gpu().zeros(&[1 << 16]).unwrap();
    let fill = sturdy::ops::fill::fill(gpu(), &x, 1.0).unwrap();
    let runs = vec![&fill; 50];
    gpu().run(runs.iter().copied()).unwrap();
    gpu().wait().unwrap();
    let start = std::time::Instant::now();
    let seconds = gpu().time_submission(&runs).unwrap();
    let wall = start.elapsed().as_secs_f64();
    assert!(seconds > 0.0 && seconds <= wall, "{seconds} s timed in {wall} s of wall time");
}
