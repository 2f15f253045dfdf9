// Softmax cross-entropy with soft targets (rows of `targets` are probability vectors:
// one-hot for plain labels, mixtures for Mixup), logits and targets [N, K]:
//   forward           losses[n] = -sum_k t[n, k] log softmax(z[n])_k = sum_k t[n, k] (lse_n - z[n, k])
//   forward_backward  the same, and dlogits[n, k] = (softmax(z[n])_k - t[n, k]) / N,
//                     the gradient of the mean loss
//   stats             stats = [sum_n losses[n], #(argmax z[n] == argmax t[n]), N], written
//                     or added to (epoch totals), so training logs without reading logits
//   one_hot           targets[n, k] = (labels[n] == k), so a batch upload is just labels;
//                     a label >= K gives a zero row
// lse_n = m + log(sum_k exp(z[n, k] - m)) with m = max_k z[n, k]: every exponent is <= 0,
// so nothing overflows and the sum is >= 1, whatever the logits' size.

struct Params {
    batch: u32,
    classes: u32,
    // stats: 0 writes stats, 1 adds to them.
    accumulate: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@group(0) @binding(6) var<storage, read> labels: array<u32>;
@group(0) @binding(7) var<storage, read_write> one_hot_targets: array<f32>;

var<workgroup> loss_partial: array<f32, WORKGROUP>;
var<workgroup> correct_partial: array<f32, WORKGROUP>;
var<workgroup> samples_partial: array<f32, WORKGROUP>;

// The max of a row of logits and the sum of exp(z - max) over it (>= 1).
struct Softmax {
    max: f32,
    sum: f32,
}

fn softmax_of_row(start: u32) -> Softmax {
    var m = logits[start];
    for (var k = 1u; k < params.classes; k++) {
        m = max(m, logits[start + k]);
    }
    var sum = 0.0;
    for (var k = 0u; k < params.classes; k++) {
        sum += exp(logits[start + k] - m);
    }
    return Softmax(m, sum);
}

// Writes losses[n] and returns the row's softmax for the gradient.
fn write_loss(n: u32) -> Softmax {
    let start = n * params.classes;
    let softmax = softmax_of_row(start);
    let lse = softmax.max + log(softmax.sum);
    var loss = 0.0;
    for (var k = 0u; k < params.classes; k++) {
        loss += targets[start + k] * (lse - logits[start + k]);
    }
    losses[n] = loss;
    return softmax;
}

@compute @workgroup_size(WORKGROUP)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let n = thread_index(gid, groups);
    if n < params.batch {
        write_loss(n);
    }
}

@compute @workgroup_size(WORKGROUP)
fn forward_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let n = thread_index(gid, groups);
    if n >= params.batch {
        return;
    }
    let softmax = write_loss(n);
    let start = n * params.classes;
    let batch = f32(params.batch);
    for (var k = 0u; k < params.classes; k++) {
        let p = exp(logits[start + k] - softmax.max) / softmax.sum;
        dlogits[start + k] = (p - targets[start + k]) / batch;
    }
}

// Index of the first largest element of a row (the same tie rule as the reference).
fn argmax_logits(start: u32) -> u32 {
    var best = 0u;
    for (var k = 1u; k < params.classes; k++) {
        if logits[start + k] > logits[start + best] {
            best = k;
        }
    }
    return best;
}

fn target_mass(start: u32) -> f32 {
    var mass = 0.0;
    for (var k = 0u; k < params.classes; k++) {
        mass += targets[start + k];
    }
    return mass;
}

fn argmax_targets(start: u32) -> u32 {
    var best = 0u;
    for (var k = 1u; k < params.classes; k++) {
        if targets[start + k] > targets[start + best] {
            best = k;
        }
    }
    return best;
}

// One workgroup: each lane sums a strided share of the rows, then a tree reduction.
@compute @workgroup_size(WORKGROUP)
fn summarise(@builtin(local_invocation_index) lane: u32) {
    var loss_sum = 0.0;
    var correct = 0.0;
    var samples = 0.0;
    for (var n = lane; n < params.batch; n += WORKGROUP) {
        let start = n * params.classes;
        // A row of zero targets pads a last partial batch: it counts for nothing.
        if target_mass(start) > 0.0 {
            loss_sum += losses[n];
            correct += select(0.0, 1.0, argmax_logits(start) == argmax_targets(start));
            samples += 1.0;
        }
    }
    loss_partial[lane] = loss_sum;
    correct_partial[lane] = correct;
    samples_partial[lane] = samples;
    workgroupBarrier();
    for (var stride = WORKGROUP / 2u; stride > 0u; stride /= 2u) {
        if lane < stride {
            loss_partial[lane] += loss_partial[lane + stride];
            correct_partial[lane] += correct_partial[lane + stride];
            samples_partial[lane] += samples_partial[lane + stride];
        }
        workgroupBarrier();
    }
    if lane == 0u {
        let batch = vec3(loss_partial[0], correct_partial[0], samples_partial[0]);
        var previous = vec3(0.0);
        if params.accumulate != 0u {
            previous = vec3(stats[0], stats[1], stats[2]);
        }
        stats[0] = previous.x + batch.x;
        stats[1] = previous.y + batch.y;
        stats[2] = previous.z + batch.z;
    }
}

@compute @workgroup_size(WORKGROUP)
fn one_hot(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = thread_index(gid, groups);
    if index < params.batch * params.classes {
        let n = index / params.classes;
        let k = index % params.classes;
        one_hot_targets[index] = select(0.0, 1.0, labels[n] == k);
    }
}
