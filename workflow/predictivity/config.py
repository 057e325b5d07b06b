"""The config schema: one readable validation error, and the config's reference page.

The schema ``workflow/schemas/config.schema.yaml`` is the one source of the config's keys, types,
defaults and descriptions:

* :func:`check_config` turns the most relevant schema violation into one line naming the key
  (``config key 'regression': Additional properties are not allowed ('fold' was unexpected)``);
  Snakemake's own ``validate`` then fills the defaults — nested ones included: it descends into
  each study's branch (chosen by its ``kind``), the study's sections and every model's options,
  so scripts and input functions read ``opts["key"]`` without fallbacks
  (``tests/test_config_schema.py`` checks that every default reaches the config);
* :func:`schema_markdown` writes ``config/README.md`` from it
  (``python -m predictivity.config --markdown > config/README.md``; a test keeps them equal).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jsonschema
import yaml

from predictivity.errors import InputError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _key(path) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<top level>"


def check_config(config: dict, schema: dict, source: str = "config") -> None:
    """Raise InputError naming the offending config key if ``config`` violates ``schema``."""
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = list(validator.iter_errors(config))
    if not errors:
        return
    error = jsonschema.exceptions.best_match(errors)
    # descend into if/then and oneOf branches to the most specific message
    while error.context:
        error = jsonschema.exceptions.best_match(error.context)
    key = _key(error.absolute_path)
    raise InputError(
        f"{source}: config key '{key}'",
        error.message + ".",
        "See config/README.md (or workflow/schemas/config.schema.yaml) for the allowed keys, "
        "types and defaults.",
    )


# ---------------------------------------------------------------------------------------------
# config/README.md, generated from the schema


def _resolve(node: dict, root: dict) -> dict:
    """``node`` with its ``$ref`` (``#/definitions/x``) merged in; the node's own keys win."""
    while isinstance(node, dict) and "$ref" in node:
        target = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _value(v) -> str:
    """A default or constant as it is written in YAML (flow style)."""
    return yaml.safe_dump(v, default_flow_style=True, width=10**6).strip().removesuffix("\n...")


def _default(node: dict) -> str:
    """The node's default for the table (a long list shows its ends and its length)."""
    if "default" not in node:
        return ""
    v = node["default"]
    if isinstance(v, list) and len(v) > 6:
        return f"`[{_value(v[0])}, {_value(v[1])}, …, {_value(v[-1])}]` ({len(v)} values)"
    return f"`{_value(v)}`"


def _type(node: dict, root: dict) -> str:
    node = _resolve(node, root)
    if "const" in node:
        return f"`{_value(node['const'])}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{_value(v)}`" for v in node["enum"])
    for combinator in ("oneOf", "anyOf"):
        if combinator in node:
            return " or ".join(_type(branch, root) for branch in node[combinator])
    types = node.get("type")
    if isinstance(types, list):
        return " or ".join(types)
    if types == "array":
        return f"list of {_type(node['items'], root)}" if "items" in node else "list"
    if types == "object" or "properties" in node or "patternProperties" in node:
        return "mapping"
    return types or "any"


_STUDY = "studies.<study>."


def _placeholder(name: str) -> str:
    names = {"models": "<model>", "trained": "<model>", "studies": "<study>", "downloads": "<name>"}
    return names.get(name, "<key>")


def _text(s: str | None) -> str:
    return " ".join((s or "").split()).replace("|", "\\|")


def _rows(node: dict, root: dict, prefix: str) -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) of every property under ``node``, depth first."""
    rows = []
    node = _resolve(node, root)
    for name, sub in node.get("properties", {}).items():
        if name == "kind" and prefix == _STUDY:
            continue  # the section's heading
        sub = _resolve(sub, root)
        key = f"{prefix}{name}"
        rows.append((key, _type(sub, root), _default(sub), _text(sub.get("description"))))
        rows += _children(sub, root, key, name)
    return rows


def _documented(node: dict, root: dict) -> bool:
    """Whether any property of ``node`` has its own description or default (plain override
    sections, whose keys are documented where they have defaults, are not expanded)."""
    return any("description" in p or "default" in p for p in node.get("properties", {}).values())


def _children(sub: dict, root: dict, key: str, name: str) -> list[tuple[str, str, str, str]]:
    rows = _rows(sub, root, f"{key}.") if _documented(sub, root) else []
    for item in sub.get("patternProperties", {}).values():
        item = _resolve(item, root)
        inner = f"{key}.{_placeholder(name)}"
        if "properties" in item:
            rows += _rows(item, root, f"{inner}.")
        else:
            rows.append((inner, _type(item, root), "", _text(item.get("description"))))
    extra = sub.get("additionalProperties")
    if isinstance(extra, dict) and extra:
        extra = _resolve(extra, root)
        inner = f"{key}.{_placeholder(name)}"
        rows.append((inner, _type(extra, root), "", _text(extra.get("description"))))
    return rows


def _table(rows) -> list[str]:
    out = ["| key | type | default | description |", "|---|---|---|---|"]
    out += [f"| `{k}` | {t} | {d} | {s} |" for k, t, d, s in rows]
    return out


def _study_kinds(studies: dict, root: dict) -> list[tuple[str, dict]]:
    """(kind, schema branch) of each study kind, in the schema's order."""
    item = next(iter(studies["patternProperties"].values()))
    kinds = []
    for rule in item.get("allOf", []):
        kind = rule["if"]["properties"]["kind"]["const"]
        kinds.append((kind, _resolve(rule["then"], root)))
    return kinds


def schema_markdown(schema: dict) -> str:
    """config/README.md: every key of the config with its type, default and description."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from workflow/schemas/config.schema.yaml by",
        "     `python -m predictivity.config --markdown > config/README.md`; do not edit. -->",
        "",
        _text(schema.get("description")),
        "",
        "`config.yaml` is the offline demo and `real.yaml` the real-data studies. Keys are written",
        "with dots for nesting (`regression.folds` is `folds:` under `regression:`); `<study>`,",
        "`<model>` and `<name>` stand for names you choose (letters, digits, `_`, `-`, `.`).",
        "A missing key takes its default, also inside a study, its sections and its models.",
        "",
    ]
    for name, sub in schema["properties"].items():
        sub = _resolve(sub, schema)
        lines += [f"## `{name}`", ""]
        if "properties" not in sub and "patternProperties" not in sub:
            row = (name, _type(sub, schema), _default(sub), _text(sub.get("description")))
            lines += [*_table([row]), ""]
            continue
        lines += [_text(sub.get("description")), ""]
        if name == "studies":
            for kind, branch in _study_kinds(sub, schema):
                lines += [
                    f"### `kind: {kind}`",
                    "",
                    _text(branch.get("description")),
                    "",
                ]
                required = [k for k in branch.get("required", []) if k != "kind"]
                if required:
                    lines += ["Required: " + ", ".join(f"`{k}`" for k in required) + ".", ""]
                lines += [*_table(_rows(branch, schema, _STUDY)), ""]
            continue
        lines += _table(_children(sub, schema, name, name))
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m predictivity.config", description="The config schema's tools."
    )
    parser.add_argument(
        "--markdown", action="store_true", help="print config/README.md (generated from the schema)"
    )
    parser.add_argument("--schema", default=str(SCHEMA_PATH), help="the schema (YAML)")
    args = parser.parse_args(argv)
    if not args.markdown:
        parser.print_help()
        return 2
    sys.stdout.write(schema_markdown(load_schema(args.schema)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
