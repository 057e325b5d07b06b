"""Config validation with one readable error (DESIGN §7: a bad config names the key).

Snakemake's own ``validate`` fills the schema defaults but reports an error by dumping the whole
schema; :func:`check_config` runs first and turns the most relevant schema violation into one
line: ``config key 'regression': Additional properties are not allowed ('fold' was unexpected)``.
"""

from __future__ import annotations

import jsonschema
import yaml

from predictivity.errors import InputError


def load_schema(path: str) -> dict:
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
        "See workflow/schemas/config.schema.yaml for the allowed keys, types and defaults.",
    )
