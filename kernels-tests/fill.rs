use rand::Rng;
use sturdy::ops;

use crate::harness::*;

/// Fill stores a bit pattern, so the result is compared bit for bit.
#[test]
fn fill_sets_every_element() {
    for shape in [vec![1], vec![5, 3, 7, 5], vec![64], vec![65]] {
        let mut case = Case::new(format!("fill {shape:?}"));
        let random: f32 = case.rng.random_range(-10.0..10.0);
        for value in [0.0, -0.0, random] {
            let tensor = poisoned(&shape);
            gpu().run([&ops::fill::fill(gpu(), &tensor, value).unwrap()]).unwrap();
            let bits = gpu().download::<u32>(&tensor).unwrap();
            assert!(bits.iter().all(|&b| b == value.to_bits()), "{}: fill {value:?} left {bits:x?}", case.context());
        }
        let labels = gpu().upload(&shape, &vec![u32::MAX; shape.iter().product()]).unwrap();
        let value: u32 = case.rng.random();
        gpu().run([&ops::fill::fill_u32(gpu(), &labels, value).unwrap()]).unwrap();
        let read = gpu().download::<u32>(&labels).unwrap();
        assert!(read.iter().all(|&v| v == value), "{}: fill_u32 {value} left {read:?}", case.context());
    }
}

#[test]
fn fill_covers_a_grid_beyond_one_dimension() {
    // 64 * 65535 elements fill the x dimension; one more workgroup spills into y.
    let len = 64 * 65535 + 100;
    let tensor = poisoned(&[len]);
    let fill = ops::fill::fill(gpu(), &tensor, 1.5).unwrap();
    assert!(fill.kernel().expect("fill is a kernel").grid_1d(len)[1] > 1, "the grid must use its y dimension");
    gpu().run([&fill]).unwrap();
    assert!(gpu().download::<f32>(&tensor).unwrap().iter().all(|&v| v == 1.5));
}
