"""The config schema is the config's documentation: its defaults must be the modules' defaults."""

from pathlib import Path

import pytest
import yaml

from predictivity import mec
from predictivity.config import check_config
from predictivity.errors import InputError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


@pytest.mark.parametrize(
    "section", ["stimuli", "recordings", "trajectories", "training", "rate_maps"]
)
def test_mec_schema_defaults_equal_module_defaults(section):
    props = SCHEMA["definitions"]["mec_study"]["properties"][section]["properties"]
    assert {k: v.get("default") for k, v in props.items()} == mec.DEFAULTS[section]


def test_mec_model_schema_defaults_equal_module_defaults():
    model = SCHEMA["definitions"]["mec_study"]["properties"]["models"]["patternProperties"]
    props = next(iter(model.values()))["properties"]
    assert {k: v.get("default") for k, v in props.items() if k != "training"} == mec.DEFAULTS[
        "model"
    ]


def test_demo_config_is_valid():
    check_config(yaml.safe_load((REPO / "config/config.yaml").read_text()), SCHEMA)


def test_bad_key_named_in_error():
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg["studies"]["mec"]["training"]["n_train_step"] = 5
    with pytest.raises(InputError, match=r"studies\.mec\.training.*n_train_step"):
        check_config(cfg, SCHEMA)


def test_conda_env_pins_match_pyproject():
    """envs/predictivity.yaml (for --sdm conda users) must pin what pyproject pins."""
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {d.split("==")[0].strip().lower(): d.split("==")[1].strip() for d in deps if "==" in d}
    env = yaml.safe_load((REPO / "envs/predictivity.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_pins = {d.split("==")[0].lower(): d.split("==")[1] for d in pip}
    for name, version in env_pins.items():
        assert pinned.get(name) == version, (name, version, pinned.get(name))
    runtime = set(pinned) - {
        "snakemake",
        "snakemake-executor-plugin-slurm",
        "snakemake-executor-plugin-slurm-jobstep",
        "pygments",
    }
    assert runtime <= set(env_pins), runtime - set(env_pins)
