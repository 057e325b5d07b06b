"""The config schema is the one source of defaults, and config/README.md is generated from it."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from snakemake.utils import validate

from predictivity.config import SCHEMA_PATH, check_config, schema_markdown
from predictivity.errors import InputError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())

# one study of every kind with only its required keys, one model each
MINIMAL = {
    "downloads": {"d": {"url": "file:///dev/null"}},
    "studies": {
        "p": {"kind": "precomputed", "recordings": "r.npy", "models": {"m": "m.npz"}},
        "t": {
            "kind": "table",
            "path": "t.csv",
            "columns": {"model": "a", "layer": "b", "pr": "c", "score": "d"},
        },
        "l": {"kind": "language", "models": {"m": {}}, "dataset": {"loader": "pereira2018"}},
        "mec": {"kind": "mec", "models": {"m": {}, "u": {"training": {"n_train_steps": 0}}}},
        "it": {"kind": "it", "models": {"m": {"arch": "alexnet"}}},
        "a": {"kind": "auditory", "models": {"m": {"network": "filterbank"}}},
        "s": {"kind": "story", "dataset": {"loader": "lebel2023"}, "models": {"m": {}}},
    },
}


def _deref(node):
    while isinstance(node, dict) and "$ref" in node:
        target = SCHEMA
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _check_defaults(node, instance, path, seen, missing):
    """Walk the schema along ``instance`` (the branch of each study's kind, every model) and
    record each default-bearing schema node reached (``seen``) and each default not filled."""
    node = _deref(node)
    for rule in node.get("allOf", []):
        if instance.get("kind") == rule["if"]["properties"]["kind"]["const"]:
            _check_defaults(rule["then"], instance, path, seen, missing)
    for name, raw in node.get("properties", {}).items():
        sub = _deref(raw)
        if "default" in sub:
            seen.add(id(raw))
            if name not in instance:
                missing.append(f"{path}{name}")
        if isinstance(instance.get(name), dict):
            _check_defaults(sub, instance[name], f"{path}{name}.", seen, missing)
    for item in node.get("patternProperties", {}).values():
        for key, value in instance.items():
            if isinstance(value, dict):
                _check_defaults(item, value, f"{path}{key}.", seen, missing)


def _all_defaults(node, found):
    if isinstance(node, dict):
        for sub in node.get("properties", {}).values():
            if isinstance(sub, dict) and "default" in sub:
                found.add(id(sub))
        for value in node.values():
            _all_defaults(value, found)
    elif isinstance(node, list):
        for value in node:
            _all_defaults(value, found)


def test_validate_fills_every_default_also_nested():
    """The Snakefile's `validate(config, schema)` (Snakemake's, set_default=True) fills the
    defaults of each study's kind branch, its sections and every model's options."""
    config = yaml.safe_load(yaml.safe_dump(MINIMAL))
    check_config(config, SCHEMA)
    validate(config, str(SCHEMA_PATH))
    seen, missing = set(), []
    _check_defaults(SCHEMA, config, "", seen, missing)
    assert missing == []
    every = set()
    _all_defaults(SCHEMA, every)
    assert every <= seen, "MINIMAL does not reach every default of the schema: extend it"
    mec = config["studies"]["mec"]
    assert mec["training"]["n_train_steps"] == 1000 and mec["models"]["m"]["cell"] == "rnn"
    assert mec["models"]["u"]["training"] == {"n_train_steps": 0}  # overrides get no defaults
    assert config["studies"]["it"]["models"]["m"]["pooling"] == "gap"
    assert config["studies"]["l"]["dataset"]["path"] == ""
    assert config["downloads"]["d"]["sha256"] is None


def test_user_values_win_over_defaults():
    config = yaml.safe_load(yaml.safe_dump(MINIMAL))
    config["studies"]["mec"]["training"] = {"batch_size": 7}
    config["regression"] = {"folds": 3}
    validate(config, str(SCHEMA_PATH))
    assert config["studies"]["mec"]["training"]["batch_size"] == 7
    assert config["studies"]["mec"]["training"]["n_train_steps"] == 1000
    assert config["regression"]["folds"] == 3 and config["regression"]["seed"] == 0


def test_default_alpha_grid_is_logspace_exactly():
    grid = SCHEMA["definitions"]["regression"]["properties"]["alphas"]["default"]
    np.testing.assert_array_equal(np.asarray(grid, dtype=np.float64), np.logspace(-2, 8, 21))


def test_config_readme_is_generated_from_the_schema():
    committed = (REPO / "config/README.md").read_text(encoding="utf-8")
    assert committed == schema_markdown(SCHEMA), (
        "config/README.md is out of date: python -m predictivity.config --markdown > "
        "config/README.md"
    )


def test_config_readme_lists_every_top_level_key_and_kind():
    text = schema_markdown(SCHEMA)
    for key in SCHEMA["properties"]:
        assert f"## `{key}`" in text
    for kind in ("precomputed", "table", "language", "mec", "it", "auditory", "story"):
        assert f"### `kind: {kind}`" in text
    assert "| `regression.folds` | integer | `5` |" in text
    assert "| `studies.<study>.models.<model>.cell` | one of `rnn`, `gru`, `lstm` | `rnn` |" in text


def test_demo_config_is_valid():
    check_config(yaml.safe_load((REPO / "config/config.yaml").read_text()), SCHEMA)


def test_bad_key_named_in_error():
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg["studies"]["mec"]["training"]["n_train_step"] = 5
    with pytest.raises(InputError, match=r"studies\.mec\.training.*n_train_step"):
        check_config(cfg, SCHEMA)


def test_null_alphas_rejected_with_the_key():
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg["regression"]["alphas"] = None
    with pytest.raises(InputError, match=r"regression\.alphas"):
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
