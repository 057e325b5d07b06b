"""The rerun hash of a workflow script: the package modules it imports, found by reading code.

Snakemake's code trigger sees a rule's script but not the package modules it imports, so every
rule carries ``params: code=code_version("<script>.py")``: a sha256 of the source of every
``predictivity`` module in the script's import closure. Editing a module therefore reruns exactly
the stages whose scripts reach it, directly or through other modules, and nothing else.

The closure is read with :mod:`ast` (no module is imported): ``import predictivity.x``,
``from predictivity.x import y`` (``y`` counts as a module when ``x/y.py`` exists), relative
imports, and imports inside functions all count. Each module brings the ``__init__.py`` of its
subpackages. Left out, because they change no result: :mod:`predictivity.scripting` (logging,
thread limits, error printing), this module, and the top-level ``__init__.py`` (version string).
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "predictivity"
EXCLUDED = frozenset({"predictivity", "predictivity.scripting", "predictivity.codehash"})


def module_file(package_dir: Path, name: str) -> Path | None:
    """The source file of dotted module ``name`` (``predictivity.core.ridge``) or None."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = Path(package_dir).joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _resolve_relative(current: str, is_package: bool, level: int, module: str | None) -> str:
    parts = current.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join(parts + ([module] if module else []))


_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")


def _import_statements(tree: ast.AST):
    """Every ``import`` / ``from … import`` statement of a module, at any depth (inside functions,
    classes, ``if``/``try``/``with``/loops, ``match`` cases). Imports are statements, so only
    statement bodies are walked, not expressions — much faster than ``ast.walk`` on large
    modules, with the same result."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        for name in _BODIES:
            children = getattr(node, name, None)
            if children:
                stack.extend(children)


def imported_modules(
    source: str, current: str | None, package_dir: Path, is_package: bool = False
) -> set[str]:
    """Dotted names of the ``predictivity`` modules that ``source`` imports (anywhere in it)."""
    found: set[str] = set()
    for node in _import_statements(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if current is None:
                    continue
                base = _resolve_relative(current, is_package, node.level, node.module)
            else:
                base = node.module or ""
            if base.split(".")[0] != PACKAGE:
                continue
            found.add(base)
            for a in node.names:
                sub = f"{base}.{a.name}"
                if module_file(package_dir, sub) is not None:
                    found.add(sub)
    # importing a.b.c runs a/__init__.py and a/b/__init__.py
    for name in list(found):
        parts = name.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return {n for n in found if module_file(package_dir, n) is not None}


@functools.cache
def _module_imports(package_dir: Path, name: str) -> frozenset[str]:
    path = module_file(package_dir, name)
    return frozenset(
        imported_modules(
            path.read_text(encoding="utf-8"),
            name,
            package_dir,
            is_package=path.name == "__init__.py",
        )
    )


def import_closure(script: Path, package_dir: Path) -> list[str]:
    """Sorted dotted names of every package module ``script`` reaches through imports, excluding
    :data:`EXCLUDED` (whose own imports are not followed either)."""
    package_dir = Path(package_dir).resolve()
    todo = sorted(imported_modules(Path(script).read_text(encoding="utf-8"), None, package_dir))
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name in EXCLUDED:
            continue
        seen.add(name)
        todo.extend(sorted(_module_imports(package_dir, name) - seen))
    return sorted(seen)


def code_hash(script: Path, package_dir: Path) -> str:
    """16 hex digits of sha256 over the names and sources of :func:`import_closure`."""
    package_dir = Path(package_dir).resolve()
    h = hashlib.sha256()
    for name in import_closure(script, package_dir):
        h.update(name.encode() + b"\0" + module_file(package_dir, name).read_bytes() + b"\0")
    return h.hexdigest()[:16]
