"""The config schema is the config's documentation: its defaults must be the modules' defaults."""

from pathlib import Path

import pytest
import yaml

from predictivity import mec
from predictivity.config import check_config
from predictivity.errors import InputError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


@pytest.mark.parametrize("section", ["stimuli", "recordings", "trajectories", "training", "rate_maps"])
def test_mec_schema_defaults_equal_module_defaults(section):
    props = SCHEMA["definitions"]["mec_study"]["properties"][section]["properties"]
    assert {k: v.get("default") for k, v in props.items()} == mec.DEFAULTS[section]


def test_mec_model_schema_defaults_equal_module_defaults():
    model = SCHEMA["definitions"]["mec_study"]["properties"]["models"]["patternProperties"]
    props = next(iter(model.values()))["properties"]
    assert {k: v.get("default") for k, v in props.items() if k != "training"} == mec.DEFAULTS["model"]


def test_demo_config_is_valid():
    check_config(yaml.safe_load((REPO / "config/config.yaml").read_text()), SCHEMA)


def test_bad_key_named_in_error():
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg["studies"]["mec"]["training"]["n_train_step"] = 5
    with pytest.raises(InputError, match=r"studies\.mec\.training.*n_train_step"):
        check_config(cfg, SCHEMA)
