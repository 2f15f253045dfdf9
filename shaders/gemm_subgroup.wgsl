// C = A B as `gemm` of shaders/gemm.wgsl computes it (the same blocks over the same
// textures, shaders/include/gemm_texture.wgsl), for adapters with subgroups. The blocks of
// one column block read the same texels of B in every step, and neighbouring invocations
// hold neighbouring row blocks of one column block (`block_at`): so in each lane group of
// ROW_QUANTUM lanes of a subgroup, lane i loads the texels of column groups i,
// i + ROW_QUANTUM, ... only and the others take them by shuffle. A wide block's step in
// groups of 8 lanes then loads 8 + 4 texels instead of 8 + 32 (half of the texture GEMM's
// time on lavapipe was B's loads, each lane gathering the same texels).
//
// The host counts row blocks in whole lane groups (ROW_QUANTUM, src/ops/gemm.rs: 8 lanes,
// or fewer where padding to 8 would add many blocks), so aligned lane groups of
// invocations share a column block and a chunk. Where they do not (subgroups of fewer
// lanes, or lanes that are not consecutive invocations), a lane group loads B itself, as
// `gemm` does.

// include: gemm_layout
// include: gemm_texture

// The most lanes a group needs: one a column group of a wide block (COLS / 4 = 8). Every
// subgroup width of the adapters we know is a multiple of 8 (lavapipe's and Intel's 8,
// NVIDIA's 32, AMD's 32 or 64, Apple's 32). The host reads it (src/ops/gemm.rs).
const LANES: u32 = COLS / 4u;

// Set once per invocation by `gemm`, read by `step_columns` in every step: where this lane
// loads B (its column groups lane % ROW_QUANTUM + ROW_QUANTUM j), and its group's first lane.
var<private> lane_columns: Texels8;
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
    lane_base = lane - lane % ROW_QUANTUM;
    lane_columns = columns_of_lane(block.n0, lane % ROW_QUANTUM);
    // Two copies of the block's loop, each with its own `step_columns` (a test of the
    // flag in every step took half of the time, measured on lavapipe).
    if ROW_QUANTUM > 1u && lanes_agree(vec2<u32>(block.n0, block.chunk)) {
        multiply_block(block, true);
    } else {
        multiply_block(block, false);
    }
}

// The texel positions of the column groups lane `i` of a group loads: i + ROW_QUANTUM j
// for slot j (wrapping round the block's groups where the lanes outnumber them: a narrow
// block's 4 groups in 8 lanes are each loaded twice).
fn columns_of_lane(n0: u32, i: u32) -> Texels8 {
    let map = params.b_cols;
    let column = n0 / 4u;
    let count = block_column_groups();
    return Texels8(
        texel_at(map, digits(map.radix, column + i % count)),
        texel_at(map, digits(map.radix, column + (i + ROW_QUANTUM) % count)),
        texel_at(map, digits(map.radix, column + (i + 2u * ROW_QUANTUM) % count)),
        texel_at(map, digits(map.radix, column + (i + 3u * ROW_QUANTUM) % count)),
        texel_at(map, digits(map.radix, column + (i + 4u * ROW_QUANTUM) % count)),
        texel_at(map, digits(map.radix, column + (i + 5u * ROW_QUANTUM) % count)),
        texel_at(map, digits(map.radix, column + (i + 6u * ROW_QUANTUM) % count)),
        texel_at(map, digits(map.radix, column + (i + 7u * ROW_QUANTUM) % count)),
    );
}

// Whether all ROW_QUANTUM lanes of this lane's group run and hold blocks of the same
// column block and chunk (`key`): the same for every lane of the group, so that either all
// of them shuffle or none does.
fn lanes_agree(key: vec2<u32>) -> bool {
    let running = subgroupBallot(true);
    let agreeing = subgroupBallot(all(key == subgroupShuffle(key, lane_base)));
    let group = (1u << ROW_QUANTUM) - 1u;
    return group_bits(running, group) == group && group_bits(agreeing, group) == group;
}

// The bits of a ballot for the lanes lane_base..lane_base + ROW_QUANTUM.
fn group_bits(ballot: vec4<u32>, group: u32) -> u32 {
    return (ballot[lane_base / 32u] >> (lane_base % 32u)) & group;
}

fn step_columns(cb: Texels8, bo: vec2<i32>, from_lanes: bool) -> ColumnGroups {
    let count = block_column_groups();
    if !from_lanes {
        return loaded_columns(cb, bo, count);
    }
    let own = loaded_columns(lane_columns, bo, (count + ROW_QUANTUM - 1u) / ROW_QUANTUM);
    var groups: ColumnGroups;
    groups.g0 = from_lanes_of(own, 0u);
    groups.g1 = from_lanes_of(own, 1u);
    groups.g2 = from_lanes_of(own, 2u);
    groups.g3 = from_lanes_of(own, 3u);
    if WIDE {
        groups.g4 = from_lanes_of(own, 4u);
        groups.g5 = from_lanes_of(own, 5u);
        groups.g6 = from_lanes_of(own, 6u);
        groups.g7 = from_lanes_of(own, 7u);
    }
    return groups;
}

// Column group k of the step: slot k / ROW_QUANTUM of lane k % ROW_QUANTUM's loads (`own`,
// this lane's). Both are constants once ROW_QUANTUM is set.
fn from_lanes_of(own: ColumnGroups, k: u32) -> mat4x4<f32> {
    return from_lane(slot(own, k / ROW_QUANTUM), lane_base + k % ROW_QUANTUM);
}

fn slot(own: ColumnGroups, j: u32) -> mat4x4<f32> {
    switch j {
        case 0u: { return own.g0; }
        case 1u: { return own.g1; }
        case 2u: { return own.g2; }
        case 3u: { return own.g3; }
        case 4u: { return own.g4; }
        case 5u: { return own.g5; }
        case 6u: { return own.g6; }
        default: { return own.g7; }
    }
}

// Lane `lane`'s texels `held`.
fn from_lane(held: mat4x4<f32>, lane: u32) -> mat4x4<f32> {
    return mat4x4<f32>(subgroupShuffle(held[0], lane), subgroupShuffle(held[1], lane), subgroupShuffle(held[2], lane),
        subgroupShuffle(held[3], lane));
}
