
// ---- shaders/common/random.wgsl, appended to every shader by build.rs ----
// Counter-based random bits (no state: a forward and its backward recompute the same
// bits from the same key), copied bit for bit in src/reference/noisy_relu.rs.

// PCG hash (Jarzynski and Olano, "Hash Functions for GPU Rendering", JCGT 2020): one
// LCG step then PCG's RXS-M-XS output permutation; a bijection of u32. u32 arithmetic
// wraps in WGSL, as `wrapping_*` in the Rust copy.
fn pcg_hash(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// The key of one stream of one step of one seed: nested hashes, one word at a time.
fn random_key(stream: u32, seed_lo: u32, seed_hi: u32, step: u32) -> u32 {
    return pcg_hash(stream + pcg_hash(step + pcg_hash(seed_hi + pcg_hash(seed_lo))));
}

// Random bits number `c` of the stream `key`. The counter is hashed before the key is
// added, so two keys' streams are not shifted copies of each other.
fn draw(key: u32, c: u32) -> u32 {
    return pcg_hash(pcg_hash(c) + key);
}
