//! One mechanism for every op that has more than one implementation: the variants, and
//! the choice between them. An op lists the variants that apply to a shape; [`choose`]
//! returns the one `--kernels` forces, or else the fastest, timed at the first use of the
//! shape on this adapter and then cached (see `gpu::autotune`).

use super::gemm::Loader;
use crate::gpu::{Dispatch, Gpu, GpuError, KernelChoice, Result};

/// One way to compute an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The op's own kernels over storage buffers: the reference and fallback.
    Direct,
    /// Pack the operands, then the GEMM with this loader.
    Gemm(Loader),
}

impl Variant {
    /// Every variant `gpu` can run, GEMM tile shapes included.
    pub fn all(gpu: &Gpu) -> Vec<Variant> {
        std::iter::once(Variant::Direct).chain(Loader::available(gpu).into_iter().map(Variant::Gemm)).collect()
    }

    /// "direct", or the GEMM loader's name ("texture", "tiled 64x64").
    pub fn name(self) -> String {
        match self {
            Variant::Direct => "direct".into(),
            Variant::Gemm(loader) => loader.name(),
        }
    }

    /// The direct kernels, then each GEMM loader of `gpu` that `fits` the operands of an op.
    pub fn applicable(gpu: &Gpu, fits: impl Fn(Loader) -> bool) -> Vec<Variant> {
        let fits = |variant: &Variant| match variant {
            Variant::Direct => true,
            Variant::Gemm(loader) => fits(*loader),
        };
        Variant::all(gpu).into_iter().filter(fits).collect()
    }

    fn family(self) -> KernelChoice {
        match self {
            Variant::Direct => KernelChoice::Direct,
            Variant::Gemm(Loader::Texture) => KernelChoice::Texture,
            Variant::Gemm(Loader::Subgroup) => KernelChoice::Subgroup,
            Variant::Gemm(Loader::Tiled { .. }) => KernelChoice::Tiled,
        }
    }
}

/// The three products of a layer with weights (a convolution, a linear layer), each an op
/// with variants of its own: the output, the input's gradient and the weights' gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Product {
    Forward,
    BackwardInput,
    BackwardWeight,
}

impl Product {
    pub const ALL: [Product; 3] = [Product::Forward, Product::BackwardInput, Product::BackwardWeight];

    pub fn name(self) -> &'static str {
        match self {
            Product::Forward => "forward",
            Product::BackwardInput => "backward_input",
            Product::BackwardWeight => "backward_weight",
        }
    }
}

/// What builds an op's dispatches for a given variant.
pub type Build<'a> = &'a dyn Fn(Variant) -> Result<Vec<Dispatch>>;

/// Rounds of a measurement: each round times every variant once, in turn, so that a
/// load spike from other processes hits all of them alike and each keeps its fastest run.
const ROUNDS: usize = 3;

/// A variant more than this many times slower than the fastest in a round is not timed
/// again: only a load spike of that size could hide a winner, and the slowest variants
/// (the direct kernels of large convolutions, 10-30x the GEMMs on lavapipe) were most of
/// a first run's measuring: ResNet-20's went from 21-24 to 12-14 s (BENCHMARKS.md).
const OUTRUN: f64 = 2.0;

/// The shortest timed submission: on a real GPU one run of a small op takes tens of
/// microseconds, too short to time alone, so a candidate is run this many times over in one
/// submission and the time divided (on lavapipe one run of most ops is already longer, and
/// runs once).
const MIN_SUBMISSION_SECONDS: f64 = 2e-3;

/// Runs of a candidate in one submission at most (a few thousand dispatches).
const MAX_REPEATS: usize = 1000;

/// The seconds of `repeats` runs of `dispatches` in one submission, on the GPU where it has
/// timestamps (`Gpu::time_submission`): the variant that wins is the one whose kernels are
/// fastest, as the GPU runs a training step while the host records the next. Fails at
/// once where a signal asked to stop (a measurement is the long part of a model's build).
fn time_dispatches(gpu: &Gpu, dispatches: &[Dispatch], repeats: usize) -> Result<f64> {
    if crate::interrupt::requested() {
        return Err(GpuError::Interrupted);
    }
    let runs: Vec<&Dispatch> = std::iter::repeat_n(dispatches, repeats).flatten().collect();
    gpu.time_submission(&runs)
}

/// The variant of `op` (its name and shape, e.g. "conv2d forward N128 16->16 32x32 k3 s1
/// p1") among `applicable`: where `--kernels` forces a family, its first variant here (the
/// direct kernels where none of the family fits); else the fastest, timed with the
/// dispatches `build` gives at the first use of `op` on this adapter, then cached.
pub fn choose(
    gpu: &Gpu,
    op: &str,
    applicable: &[Variant],
    build: impl Fn(Variant) -> Result<Vec<Dispatch>>,
) -> Result<Variant> {
    let first = *applicable.first().expect("every op has a variant that applies");
    let variant = match gpu.kernel_choice() {
        KernelChoice::Auto if applicable.len() > 1 => {
            let name = gpu.fastest_or_measure(op, || Ok(fastest(gpu, applicable, &build)?.name()))?;
            // A name no variant has any more (the cache outlived a change) is measured again.
            match applicable.iter().find(|v| v.name() == name) {
                Some(variant) => *variant,
                None => fastest(gpu, applicable, &build)?,
            }
        }
        KernelChoice::Auto => first,
        forced => {
            let of_family = applicable.iter().find(|v| v.family() == forced);
            let fallback = applicable.iter().find(|v| **v == Variant::Direct).unwrap_or(&first);
            *of_family.unwrap_or(fallback)
        }
    };
    gpu.record_choice(op, &variant.name());
    Ok(variant)
}

/// The variant with the fastest run (see [`fastest_of`]).
fn fastest(gpu: &Gpu, applicable: &[Variant], build: &impl Fn(Variant) -> Result<Vec<Dispatch>>) -> Result<Variant> {
    let dispatches = applicable.iter().map(|&variant| build(variant)).collect::<Result<Vec<_>>>()?;
    let time = |index: usize, repeats| time_dispatches(gpu, &dispatches[index], repeats);
    Ok(applicable[fastest_of(dispatches.len(), time)?])
}

/// The index of the fastest of `count` candidates, `time(index, repeats)` giving the seconds
/// of `repeats` runs of one in a submission: an untimed submission of each (it pays for
/// first touches of memory), then [`ROUNDS`] rounds, each candidate keeping its best time
/// per run. Each submission of a candidate has enough runs to last about
/// [`MIN_SUBMISSION_SECONDS`] by its previous one. A candidate whose best is more than
/// [`OUTRUN`] times the fastest so far is not timed again.
fn fastest_of(count: usize, mut time: impl FnMut(usize, usize) -> Result<f64>) -> Result<usize> {
    let mut repeats = vec![1; count];
    let mut submit = |index: usize, repeats: &mut usize| -> Result<f64> {
        let seconds = time(index, *repeats)?;
        let per_run = seconds / *repeats as f64;
        let wanted = (MIN_SUBMISSION_SECONDS / per_run.max(f64::MIN_POSITIVE)).ceil() as usize;
        *repeats = wanted.clamp(*repeats, MAX_REPEATS);
        Ok(per_run)
    };
    for (index, repeats) in repeats.iter_mut().enumerate() {
        submit(index, repeats)?;
    }
    let mut best = vec![f64::INFINITY; count];
    for _ in 0..ROUNDS {
        let fastest = best.iter().copied().fold(f64::INFINITY, f64::min);
        for (index, (best, repeats)) in best.iter_mut().zip(&mut repeats).enumerate() {
            if *best <= OUTRUN * fastest {
                *best = best.min(submit(index, repeats)?);
            }
        }
    }
    Ok((0..count).min_by(|&a, &b| best[a].total_cmp(&best[b])).expect("a variant applies"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `fastest_of` over candidates whose submissions take `clock(index, call, repeats)`
    /// seconds; returns the repeats of each candidate's submissions, in order, and the index
    /// chosen.
    fn measure(count: usize, clock: impl Fn(usize, usize, usize) -> f64) -> (Vec<Vec<usize>>, usize) {
        let mut submissions = vec![Vec::new(); count];
        let chosen = fastest_of(count, |index, repeats| {
            let call = submissions[index].len();
            submissions[index].push(repeats);
            Ok(clock(index, call, repeats))
        })
        .unwrap();
        (submissions, chosen)
    }

    /// Candidates whose runs take these times, submission by submission (the first is the
    /// untimed one; the last repeats), as long runs on lavapipe do.
    fn timed(runs: &[&[f64]]) -> (Vec<usize>, usize) {
        let (submissions, chosen) =
            measure(runs.len(), |index, call, repeats| repeats as f64 * runs[index][call.min(runs[index].len() - 1)]);
        assert!(submissions.iter().flatten().all(|&repeats| repeats == 1), "runs longer than a submission need");
        (submissions.iter().map(Vec::len).collect(), chosen)
    }

    #[test]
    fn a_variant_twice_as_slow_as_the_best_is_not_timed_again() {
        // Candidate 0 is 10x the best after one round, 3 a little over 2x: both drop out.
        let (calls, chosen) = timed(&[&[10.0], &[1.0, 1.0, 3.0, 0.9], &[1.5], &[2.1]]);
        assert_eq!(calls, [2, 1 + ROUNDS, 1 + ROUNDS, 2], "the untimed submission, then the rounds");
        assert_eq!(chosen, 1, "the fastest of all its runs");
        // A candidate within 2x stays and can win in a later round.
        let (calls, chosen) = timed(&[&[1.0], &[1.9, 1.9, 0.5]]);
        assert_eq!(calls, [1 + ROUNDS, 1 + ROUNDS]);
        assert_eq!(chosen, 1);
    }

    /// A real GPU's small op: runs of 20 and 25 microseconds, each submission costing 150
    /// microseconds of overhead for the faster candidate and 50 for the other (the worst
    /// luck). Timed one run a submission, the slower would win (170 against 75); runs
    /// repeated until a submission lasts milliseconds find the faster.
    #[test]
    fn short_runs_are_repeated_until_overhead_cannot_decide() {
        let (per_run, overhead) = ([20e-6, 25e-6], [150e-6, 50e-6]);
        let (submissions, chosen) = measure(2, |index, _, repeats| overhead[index] + repeats as f64 * per_run[index]);
        assert_eq!(chosen, 0, "repeats per submission: {submissions:?}");
        for (index, repeats) in submissions.iter().enumerate() {
            assert!(repeats.windows(2).all(|pair| pair[0] <= pair[1]), "repeats only grow: {repeats:?}");
            let last = overhead[index] + *repeats.last().unwrap() as f64 * per_run[index];
            assert!(last >= 0.9 * MIN_SUBMISSION_SECONDS, "candidate {index}'s last submission took {last} s");
        }
        // A run too short to measure is repeated MAX_REPEATS times, no more.
        let (submissions, _) = measure(1, |_, _, _| 0.0);
        assert_eq!(submissions[0][1..], [MAX_REPEATS; ROUNDS]);
    }
}
