"""Stage 2: validate recordings, drop constant targets, noise ceiling → results/recordings/{study}.npz."""
import numpy as np

from predictivity.data import check_recordings, constant_targets
from predictivity.errors import InputError
from predictivity.regression import split_half_ceiling
from predictivity.scripting import load_npy, log, read_lines, read_stimuli, run, save_npz


def main(smk):
    path = smk.input.recordings
    Y = check_recordings(load_npy(path, "recordings"), path)
    stimuli = read_stimuli(smk.input.stimuli)
    if Y.shape[0] != len(stimuli):
        raise InputError(path, f"{Y.shape[0]} stimuli (rows) but the stimulus table has {len(stimuli)}.",
                         "Recordings and stimulus ids must list the same stimuli.")
    P, N, R = Y.shape
    if smk.input.target_names:
        names = [n.strip() for n in read_lines(smk.input.target_names[0], "target names")]
        if len(names) != N:
            raise InputError(smk.input.target_names[0], f"{len(names)} target names for {N} targets.",
                             "Write one name per target (column of the recordings).")
    else:
        names = [str(i) for i in range(N)]
    mean = Y.mean(axis=2)
    dropped = constant_targets(mean)
    if dropped.all():
        raise InputError(path, "every target is constant over stimuli.", "Check the recordings (all neurons silent?).")
    if dropped.any():
        log.warning("%d of %d targets are constant over stimuli (silent) and are dropped: %s",
                    int(dropped.sum()), N, ", ".join(np.asarray(names)[dropped][:20]))
    kept = np.flatnonzero(~dropped)
    ceiling = split_half_ceiling(Y[:, kept]) if R >= 2 else np.full(len(kept), np.nan)
    log.info("%d stimuli × %d targets (%d kept) × %d repetitions; median ceiling %s",
             P, N, len(kept), R, f"{np.nanmedian(ceiling):.3f}" if np.isfinite(ceiling).any() else "n/a")
    save_npz(smk.output[0], {
        "mean": mean[:, kept],
        "target": kept,
        "target_name": np.asarray(names)[kept].astype(str),
        "ceiling": ceiling,
        "n_targets_total": np.array(N),
        "n_targets_dropped": np.array(int(dropped.sum())),
        "n_repetitions": np.array(R),
    })


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
