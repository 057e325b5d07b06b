# Input functions, config lookup and the rerun hash shared by every stage.
import os
import re
from pathlib import Path

from predictivity.codehash import code_hash
from predictivity.errors import InputError

PACKAGE_DIR = Path(workflow.basedir) / "workflow" / "predictivity"
SCRIPTS = Path(workflow.basedir) / "scripts"
NAME_RE = "[A-Za-z0-9][A-Za-z0-9_.-]*"


wildcard_constraints:
    study=NAME_RE,
    model=NAME_RE,


def check_model_maps():
    """Names in a study's `trained:` map must be models of that study (a typo is an error)."""
    for study, c in config["studies"].items():
        unknown = sorted(set(c.get("trained") or {}) - set(c.get("models") or {}))
        if unknown:
            raise InputError(
                f"config: studies.{study}.trained",
                f"names no model of the study: {', '.join(map(repr, unknown))} "
                f"(models: {', '.join(c.get('models') or {}) or 'none'}).",
                "Use the names under `models:`.",
            )


check_model_maps()


def study_config(study):
    return config["studies"][study]


def computed_studies():
    """Studies whose layers are scored here (all kinds except `table`)."""
    return [s for s, c in config["studies"].items() if c["kind"] != "table"]


def models_of(study):
    return list(study_config(study).get("models", {}))


def regression_options(study):
    """Top-level `regression` options (defaults from the schema) with the study's overrides."""
    opts = dict(config["regression"])
    opts.update(study_config(study).get("regression", {}))
    return opts


def theory_options(study):
    opts = dict(config["theory"])
    opts.update(study_config(study).get("theory", {}))
    return opts


def model_options(study, model):
    """The options of one model of a built-in study (a dict; {} for precomputed paths)."""
    m = study_config(study)["models"][model]
    return m if isinstance(m, dict) else {}


def is_trained(study, model):
    """True / False / None (unknown) — from a built-in model's `trained` option or a
    precomputed study's `trained` map."""
    opts = model_options(study, model)
    if study_config(study)["kind"] == "mec":
        return mec_training(study, model)["n_train_steps"] > 0
    if study_config(study)["kind"] == "it":
        return bool(opts["weights"])
    if study_config(study)["kind"] == "auditory":
        # the filter bank has no weights: trained/untrained does not apply
        return (
            None
            if opts["network"] == "filterbank"
            else not opts["network"].endswith("_untrained")
        )
    if "trained" in opts:
        return bool(opts["trained"])
    return study_config(study).get("trained", {}).get(model)


def mec_training(study, model):
    """A MEC model's training options: study `training` overridden by the model's `training`."""
    opts = dict(study_config(study)["training"])
    opts.update(model_options(study, model).get("training", {}))
    return opts


def mec_network(study, model):
    """A MEC model's network options (everything but its training overrides)."""
    return {k: v for k, v in model_options(study, model).items() if k != "training"}


def resource_path(study, key, default_name):
    """A study's file option, or the project's shipped resources/<default_name> when null."""
    value = study_config(study)[key]
    return value if value else os.path.join(workflow.basedir, "resources", default_name)


def eigen_output(path):
    """The eigen stage's file, deleted after its readers finish when `eigen.temp` is set."""
    return temp(path) if config["eigen"]["temp"] else path


def code_version(script):
    """Hash of the package modules that scripts/<script> imports, transitively (read with ast;
    see predictivity.codehash): in `params`, so editing a module reruns exactly the stages that
    reach it. Snakemake's code trigger sees only the script file itself."""
    return code_hash(SCRIPTS / script, PACKAGE_DIR)


def user_path(study, key):
    """A path from the config (relative to the working directory), checked at DAG-build time
    unless another rule produces it."""
    return study_config(study)[key]


def precomputed_model_path(wildcards):
    models = study_config(wildcards.study)["models"]
    if wildcards.model not in models:
        raise ValueError(
            f"studies.{wildcards.study}.models: no model {wildcards.model!r} "
            f"(known: {', '.join(models)})"
        )
    return models[wildcards.model]


def precomputed_optional(key):
    def f(wildcards):
        c = study_config(wildcards.study)
        return [c[key]] if key in c else []

    return f


def per_model(pattern, study):
    return [pattern.format(study=study, model=m) for m in models_of(study)]


FIGURES = [
    "r2_vs_log_pr",
    "theory_vs_empirical",
    "learning_curves",
    "spectra",
    "metric_agreement",
    "metrics_vs_log_pr",
    "mec_criteria",
    "reshaping",
    "decomposition",
]


def table_study_files():
    return [f"results/tables/studies/{s}.parquet" for s in studies_of_kind("table")]


def all_model_files(pattern):
    return [f for s in computed_studies() for f in per_model(pattern, s)]


def final_targets():
    return [
        "results/tables/layers.parquet",
        "results/tables/fits.parquet",
        *expand("results/figures/{figure}.{ext}", figure=FIGURES, ext=["png", "svg"]),
        "results/tables/benchmarks.parquet",
        "results/tables/metric_agreement.parquet",
        "results/tables/decomposition.parquet",
        "results/tables/best_layer.parquet",
        *mec_criteria_table(),
        *all_model_files("results/metrics/{study}/{model}.parquet"),
        *all_model_files("results/controls/{study}/{model}.parquet"),
        *mec_criteria_files(),
    ]


def mec_criteria_files():
    """Grid-cell criteria of every mec study: one table per model and one for the recordings."""
    return [
        f"results/mec_criteria/{s}/{m}.parquet"
        for s in studies_of_kind("mec")
        for m in [*models_of(s), "recordings"]
    ]


def mec_criteria_table():
    """results/tables/mec_criteria.parquet when a mec study is configured, else nothing."""
    return ["results/tables/mec_criteria.parquet"] if studies_of_kind("mec") else []


def studies_of_kind(kind):
    return [s for s, c in config["studies"].items() if c["kind"] == kind]


def kind_regex(kind):
    """A wildcard constraint matching exactly the studies of one kind (never matches if none)."""
    names = studies_of_kind(kind)
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def download_dir(name, key="downloads"):
    """results/downloads/<name>, the output of rule `download` (the name must be configured)."""
    if name not in config["downloads"]:
        raise ValueError(
            f"{key}: no entry {name!r} under `downloads` (known: {', '.join(config['downloads']) or 'none'})"
        )
    return f"results/downloads/{name}"


def download_ref(value):
    """(name, path inside it) of a `{download: name, path: rel}` option value, else None."""
    if isinstance(value, dict) and value.get("download"):
        return value["download"], value.get("path") or ""
    return None


def inside_download(name, rel, key):
    """results/downloads/<name>/<rel>, refusing a path that leaves the download directory."""
    base = download_dir(name, key)
    rel = rel or ""
    norm = os.path.normpath(os.path.join(base, rel))
    if os.path.isabs(rel) or not (norm == base or norm.startswith(base + os.sep)):
        raise InputError(
            f"config: {key}",
            f"{rel!r} leaves the download directory {base} (absolute or '..').",
            "Give a path inside the download, or drop `download:`.",
        )
    return norm


# The path options of a stimuli section, and the one that `download:` beside them applies to.
STIMULUS_PATHS = {"images": ("folder", "stimulus_csv"), "sounds": ("wav_folder",)}


def stimulus_downloads(study, section):
    """Names of the downloads a stimuli section reads: its `download`, and every path option
    given as `{download: name, path: rel}`."""
    opts = study_config(study).get(section) or {}
    names = [opts["download"]] if opts.get("download") else []
    for key in STIMULUS_PATHS[section]:
        ref = download_ref(opts.get(key))
        if ref:
            names.append(ref[0])
    return list(dict.fromkeys(names))


def stimulus_download(section):
    """Input function: the download directories holding a study's stimulus files (none if
    the stimuli are generated or in the user's own folder): the DAG runs them first."""

    def f(wildcards):
        return [
            download_dir(name, f"studies.{wildcards.study}.{section}.download")
            for name in stimulus_downloads(wildcards.study, section)
        ]

    return f


def stimulus_folder(study, section, key):
    """A path option of a stimuli section, resolved: `{download: name, path: rel}` → inside that
    download; a plain path → inside the section's `download` when it has one (only its first,
    folder option), else as given; None when unset."""
    opts = study_config(study)[section]
    value = opts.get(key)
    where = f"studies.{study}.{section}.{key}"
    ref = download_ref(value)
    if ref:
        return inside_download(ref[0], ref[1], where)
    if opts.get("download") and key == STIMULUS_PATHS[section][0]:
        return inside_download(opts["download"], value, where)
    return value


def stimulus_verify(study, section):
    """The resolved stimulus paths that lie inside downloads: the stimuli job re-hashes their
    files against the download's manifest before reading them."""
    opts = study_config(study)[section]
    keys = [key for key in STIMULUS_PATHS[section] if download_ref(opts.get(key))]
    if opts.get("download") and STIMULUS_PATHS[section][0] not in keys:
        keys.insert(0, STIMULUS_PATHS[section][0])
    return [stimulus_folder(study, section, key) for key in keys]


def dataset_inputs(wildcards):
    """Input function: the real recordings' file or download directory (none when simulated)."""
    ds = study_config(wildcards.study).get("dataset")
    if not ds:
        return []
    if ds.get("download"):
        return [
            download_dir(ds["download"], f"studies.{wildcards.study}.dataset.download")
        ]
    return [ds["path"]]


def pinned_table():
    """The checksum table the user commits (`checksums`; default: the project's
    resources/checksums.tsv). The pipeline reads it and never writes it."""
    return config["checksums"] or os.path.join(
        workflow.basedir, "resources", "checksums.tsv"
    )


RECORDED_CHECKSUMS = "results/downloads/checksums.tsv"


def pinned_sha256(name):
    """What pins download `name`: its sha256 (the config's, else the committed table's row
    `downloads.<name>`) or None; for a `files` download, {path: sha256 or None} (the config's
    value, else the row `downloads.<name>/<path>`)."""
    from predictivity.datasets.download import read_checksums

    opts = config["downloads"][name]
    table = read_checksums(pinned_table())
    if opts.get("files"):
        out = {}
        for rel, sha in opts["files"].items():
            row = table.get(f"downloads.{name}/{rel}")
            out[rel] = sha.lower() if sha else (row["sha256"] if row else None)
        return out
    sha = opts.get("sha256")
    if sha:
        return sha.lower()
    row = table.get(f"downloads.{name}")
    return row["sha256"] if row else None


def download_pinned(name):
    """True when every file of download `name` has a pinned sha256."""
    pins = pinned_sha256(name)
    return all(pins.values()) if isinstance(pins, dict) else bool(pins)


def dataset_params(study):
    """The `dataset` options with `path` resolved (inside the download directory when given) and
    `verified`: "pinned" (a download whose sha256 is pinned), "recorded" (trust on first use) or
    False (a user's file)."""
    ds = study_config(study).get("dataset")
    if not ds:
        return None
    out = dict(ds)
    if ds.get("download"):
        out["path"] = inside_download(
            ds["download"], ds["path"], f"studies.{study}.dataset.path"
        )
        out["verified"] = "pinned" if download_pinned(ds["download"]) else "recorded"
    else:
        out["verified"] = False
    return out


def input_layers(study, model):
    """A model's input layers: the fixed encoding of the stimulus that the network receives,
    not a layer it computes (`is_input` in layers.parquet; left out of the fits by default).
    Built-in kinds: auditory Resemblyzer `mel` (trained and untrained twin) and the filter
    bank's `cochleagram`; mec: the place-cell `encoder` of every path integrator; it, language
    and story networks have none. Precomputed studies: their optional `input_layers` map.
    """
    c = study_config(study)
    kind = c["kind"]
    if kind == "precomputed":
        declared = c.get("input_layers", {})
        unknown = sorted(set(declared) - set(models_of(study)))
        if unknown:
            raise ValueError(
                f"studies.{study}.input_layers: no model {', '.join(map(repr, unknown))} "
                f"(known: {', '.join(models_of(study))})"
            )
        return list(declared.get(model, []))
    if kind == "mec":
        return ["encoder"]
    if kind == "auditory":
        network = str(model_options(study, model).get("network", ""))
        if network.startswith("resemblyzer"):
            return ["mel"]
        if network == "filterbank":
            return ["cochleagram"]
    return []


def own_recordings(study):
    """A built-in study's own responses, `recordings: {path, stimulus_ids}`, or None."""
    return study_config(study).get("recordings")


def own_recordings_inputs(wildcards):
    """Input function: the responses file and its ids file (none when not given)."""
    own = own_recordings(wildcards.study)
    return [own["path"], own["stimulus_ids"]] if own else []


def mec_criteria_params(wildcards):
    """A mec study's grid-cell criteria options (docs/mec_criteria.md)."""
    return study_config(wildcards.study)["criteria"]
