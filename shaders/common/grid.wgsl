
// ---- shaders/common/grid.wgsl, appended to every shader by build.rs ----
// The 1-D grid of Kernel::grid_1d (src/gpu/kernel.rs): workgroups of WORKGROUP invocations,
// at most 65535 workgroups per row of the grid, further rows in y. WORKGROUP is a power of
// two (the workgroup tree reductions halve it) and a multiple of every subgroup width.
const WORKGROUP: u32 = 64u;

fn thread_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WORKGROUP;
}

// Workgroup reductions run in two levels of FAN values each: FAN invocations combine FAN
// neighbouring values in turn, then one combines their FAN results. Three barriers
// where a halving tree takes log2(WORKGROUP) + 1, each of which lavapipe pays for
// (BENCHMARKS.md).
const FAN: u32 = 8u;
const_assert FAN * FAN == WORKGROUP;

// floor(a / d) for a < 2^30 and 1 <= d < 2^30 (every f32 index of a binding, whose size
// in bytes is a u32 in Vulkan, and every texel of a texture), through f32 division:
// lavapipe divides u32 lane by lane (about 1 ns per division per invocation, measured),
// f32 vectors at once, and GPUs emulate u32 division in many instructions. The first f32
// quotient q0 errs by under 4 * 2^-23 a / d + 1 (rounding a and d, 2.5 ulp for the
// division, the truncation), so the remainder r = a - q0 d is within 4 * 2^-23 a + d of 0
// (an i32) and r / d within 2^9 + 1; dividing r again leaves q within one of the quotient,
// never below 0, and one comparison each way makes it exact (kernels-tests/grid.rs).
fn quotient(a: u32, d: u32) -> u32 {
    let fd = f32(d);
    let q0 = u32(f32(a) / fd);
    let r = i32(a - q0 * d);
    var q = u32(i32(q0) + i32(floor(f32(r) / fd)));
    q -= select(0u, 1u, q * d > a);
    q += select(0u, 1u, a - q * d >= d);
    return q;
}

// Runs of up to four consecutive values, ceil(width / 4) to each row of `width` values:
// the scalar twins of vec4 kernels take one a thread where rows are not whole fours, doing
// per run (finding its row, loading a channel's parameters) what the vec4 forms do per
// four (src/ops/mod.rs, row_runs). Run t is its row, the index of its first value (the
// rows lying one after another) and its length.
struct RowRun {
    row: u32,
    first: u32,
    count: u32,
}

fn row_run(t: u32, width: u32) -> RowRun {
    let runs = (width + 3u) / 4u;
    let row = quotient(t, runs);
    let column = 4u * (t - row * runs);
    return RowRun(row, row * width + column, min(4u, width - column));
}

// Which of a run's four lanes hold values.
fn run_lanes(r: RowRun) -> vec4<bool> {
    return vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(r.count);
}

// Where the values of run r lie: past its end, at its first (loaded, then unused).
fn run_indices(r: RowRun) -> vec4<u32> {
    return select(vec4<u32>(r.first), r.first + vec4<u32>(0u, 1u, 2u, 3u), run_lanes(r));
}

fn row_run_count(rows: u32, width: u32) -> u32 {
    return rows * ((width + 3u) / 4u);
}

// The run [first, end) of `count` items that invocation i of `invocations` takes:
// ceil(count / invocations) in a row. Loops over runs rather than over every
// invocations-th item: lavapipe runs a workgroup's SIMD groups one after another, and a
// strided loop makes each sweep the whole range (batch norm's per-channel sums ran 3x
// slower so, measured).
fn run_of(i: u32, invocations: u32, count: u32) -> vec2<u32> {
    let whole = quotient(count, invocations);
    let share = whole + select(0u, 1u, whole * invocations < count);
    return vec2<u32>(min(i * share, count), min((i + 1u) * share, count));
}
