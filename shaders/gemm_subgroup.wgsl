// C = A B as `gemm` of shaders/gemm.wgsl computes it (the same blocks over the same
// textures, shaders/include/gemm_texture.wgsl), for adapters with subgroups. The blocks of
// one column block read the same texels of B in every step, and neighbouring invocations
// hold neighbouring row blocks of one column block (`block_at`): so in each LANES lanes of
// a subgroup, lane i loads the texels of column group i only and the others take them by
// shuffle. A wide block's step then loads 8 + 4 texels instead of 8 + 32 (half of the
// texture GEMM's time on lavapipe was B's loads, each lane gathering the same texels).
//
// Where the host counts row blocks in whole LANES (ROW_QUANTUM, src/ops/gemm.rs), aligned
// LANES of invocations share a column block and a chunk. Where they do not (fewer row
// blocks, which the host leaves unpadded; subgroups of fewer than LANES lanes, or lanes
// that are not consecutive invocations), a lane group loads B itself, as `gemm` does.

// include: gemm_layout
// include: gemm_texture

// One lane per column group of a wide block (COLS / 4 = 8): every subgroup width of the
// adapters we know is a multiple of 8 (lavapipe's and Intel's 8, NVIDIA's 32, AMD's 32 or
// 64, Apple's 32).
const LANES: u32 = COLS / 4u;
const LANE_MASK: u32 = (1u << LANES) - 1u;

// Set once per invocation by `gemm`, read by `step_columns` in every step.
var<private> lane_column: vec2<i32>;
var<private> lane_base: u32;

@compute @workgroup_size(WORKGROUP)
fn gemm(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let block = block_at(thread_index(gid, groups));
    if !has_steps(block) {
        return;
    }
    let p = params;
    lane_base = lane - lane % LANES;
    // A narrow block has 4 column groups: lanes i and i + 4 load the same one.
    let group = lane % (block_columns() / 4u);
    lane_column = texel_at(p.b_cols, digits(p.b_cols.radix, block.n0 / 4u + group));
    // Two copies of the block's loop, each with its own `step_columns` (a test of the
    // flag in every step took half of the time, measured on lavapipe).
    if lanes_agree(vec2<u32>(block.n0, block.chunk)) {
        multiply_block(block, true);
    } else {
        multiply_block(block, false);
    }
}

// Whether all LANES lanes of this lane's group run and hold blocks of the same column
// block and chunk (`key`): the same for every lane of the group, so that either all of
// them shuffle or none does.
fn lanes_agree(key: vec2<u32>) -> bool {
    let running = subgroupBallot(true);
    let agreeing = subgroupBallot(all(key == subgroupShuffle(key, lane_base)));
    return group_bits(running) == LANE_MASK && group_bits(agreeing) == LANE_MASK;
}

// The bits of a ballot for the lanes lane_base..lane_base + LANES.
fn group_bits(ballot: vec4<u32>) -> u32 {
    return (ballot[lane_base / 32u] >> (lane_base % 32u)) & LANE_MASK;
}

fn step_columns(cb: Texels8, bo: vec2<i32>, from_lanes: bool) -> ColumnGroups {
    if !from_lanes {
        return loaded_columns(cb, bo);
    }
    let own = b_rows(lane_column + bo);
    var groups: ColumnGroups;
    groups.g0 = from_lane(own, 0u);
    groups.g1 = from_lane(own, 1u);
    groups.g2 = from_lane(own, 2u);
    groups.g3 = from_lane(own, 3u);
    if WIDE {
        groups.g4 = from_lane(own, 4u);
        groups.g5 = from_lane(own, 5u);
        groups.g6 = from_lane(own, 6u);
        groups.g7 = from_lane(own, 7u);
    }
    return groups;
}

// The texels lane i of this lane's group loaded.
fn from_lane(own: mat4x4<f32>, i: u32) -> mat4x4<f32> {
    let lane = lane_base + i;
    return mat4x4<f32>(subgroupShuffle(own[0], lane), subgroupShuffle(own[1], lane), subgroupShuffle(own[2], lane),
        subgroupShuffle(own[3], lane));
}
