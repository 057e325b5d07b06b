"""Grid-cell criteria (mec): per unit of a model's rate maps, or per recorded cell →
results/mec_criteria/{study}/{model}.parquet (+ .topology.parquet); docs/mec_criteria.md."""

from predictivity.fileio import load_npz, read_stimuli, save_parquet
from predictivity.scripting import log, run
from predictivity.studies.mec.criteria import unit_criteria


def main(smk):
    study = smk.wildcards.study
    stimuli = read_stimuli(smk.input.stimuli)
    if "activations" in smk.input.keys():
        layers = load_npz(smk.input.activations, "activations")
        names = None
        source = f"studies.{study}.models.{smk.wildcards.model}"
    else:
        rec = load_npz(smk.input.recordings, "recordings")
        layers = {"cells": rec["mean"]}
        names = {"cells": rec["target_name"]}
        source = f"studies.{study} recordings"
    log.info("%s: %d layer(s), %d bins", source, len(layers), len(stimuli))
    units, topology = unit_criteria(
        layers,
        stimuli,
        smk.params.box_width,
        trajectory_options=dict(smk.params.trajectories),
        names=names,
        **dict(smk.params.criteria),
        config_key=f"studies.{study}.criteria",
    )
    save_parquet(units, smk.output.units)
    save_parquet(topology, smk.output.topology)


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
