
// ---- shaders/include/runs.wgsl, appended by build.rs to the shaders that include it ----
// The scalar forms' runs (row_run, shaders/common/grid.wgsl) over the planes of
// params.spatial values, of the including shader's f32 arrays x and dy (read) and y and dx
// (written).

// The run that invocation t takes.
fn run_at(t: u32) -> RowRun {
    return row_run(t, params.spatial);
}

fn x_run(r: RowRun) -> vec4<f32> {
    let i = run_indices(r);
    return vec4<f32>(x[i.x], x[i.y], x[i.z], x[i.w]);
}

fn dy_run(r: RowRun) -> vec4<f32> {
    let i = run_indices(r);
    return vec4<f32>(dy[i.x], dy[i.y], dy[i.z], dy[i.w]);
}

fn store_y_run(r: RowRun, v: vec4<f32>) {
    for (var m = 0u; m < r.count; m++) {
        y[r.first + m] = v[m];
    }
}

fn store_dx_run(r: RowRun, v: vec4<f32>) {
    for (var m = 0u; m < r.count; m++) {
        dx[r.first + m] = v[m];
    }
}
