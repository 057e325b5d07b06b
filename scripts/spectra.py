"""Stage 4: eigenvalues, participation ratios, power-law exponent, alignment → results/spectra/{study}/{model}.parquet."""

from predictivity.core.basis import StoredBases
from predictivity.core.spectra import model_spectra
from predictivity.fileio import load_npz, open_npz, save_parquet
from predictivity.scripting import log, run


def main(smk):
    rec = load_npz(smk.input.recordings, "recordings")
    layers = load_npz(smk.input.activations, "activations")
    with open_npz(smk.input.eigen) as arrays:
        df = model_spectra(layers, rec["mean"], bases=StoredBases(arrays, smk.input.eigen))
    for row in df.drop_duplicates("layer").itertuples():
        log.info(
            "layer %s: PR %.2f (uncentred %.2f, double-centred %.2f), power-law alpha %.2f",
            row.layer,
            row.pr,
            row.pr_uncentred,
            row.pr_double_centred,
            row.powerlaw_alpha,
        )
    save_parquet(df, smk.output[0])


if "snakemake" in globals():
    run(main, snakemake)  # noqa: F821
