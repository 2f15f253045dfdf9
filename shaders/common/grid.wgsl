
// ---- shaders/common/grid.wgsl, appended to every shader by build.rs ----
// The 1-D grid of Kernel::grid_1d (src/gpu/kernel.rs): workgroups of WORKGROUP invocations,
// at most 65535 workgroups per row of the grid, further rows in y. WORKGROUP is a power of
// two (the workgroup tree reductions halve it) and a multiple of every subgroup width.
const WORKGROUP: u32 = 64u;

fn thread_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WORKGROUP;
}
