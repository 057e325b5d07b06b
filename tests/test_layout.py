"""The package layout keeps its direction, and the rerun hash follows the code's real imports.

* ``core`` (the maths) and ``aggregate`` (tables, fits, figures) never import ``studies`` or
  ``datasets``: checked on the source with ast, imports inside functions included.
* :mod:`predictivity.codehash` finds a script's import closure on a small package written here,
  covering absolute, relative, ``from pkg import module`` and function-level imports, and the
  runner module's exclusion; its hash changes when, and only when, a module in the closure changes.
"""

import ast
from pathlib import Path

import pytest
from conftest import REPO

from predictivity.codehash import code_hash, import_closure, imported_modules

PACKAGE = REPO / "workflow" / "predictivity"


def _imports(path: Path) -> set[str]:
    return imported_modules(path.read_text(), None, PACKAGE) | {
        # relative imports resolved against the file's own dotted name
        *imported_modules(
            path.read_text(),
            "predictivity." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts),
            PACKAGE,
            is_package=path.name == "__init__.py",
        )
    }


@pytest.mark.parametrize("sub", ["core", "aggregate"])
def test_core_and_aggregate_never_import_studies_or_datasets(sub):
    files = sorted((PACKAGE / sub).rglob("*.py"))
    assert files, f"no modules under predictivity/{sub}"
    bad = {
        str(f.relative_to(PACKAGE)): sorted(
            m
            for m in _imports(f)
            if m.split(".")[:2] in (["predictivity", "studies"], ["predictivity", "datasets"])
        )
        for f in files
    }
    assert not {k: v for k, v in bad.items() if v}


def test_every_package_module_parses_and_uses_absolute_or_resolvable_imports():
    for f in PACKAGE.rglob("*.py"):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.split(".")[0] == "predictivity":
                    parts = node.module.split(".")[1:]
                    base = PACKAGE.joinpath(*parts)
                    assert base.with_suffix(".py").is_file() or (base / "__init__.py").is_file(), (
                        f"{f.relative_to(REPO)} imports {node.module}, which does not exist"
                    )


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


@pytest.fixture
def toy(tmp_path):
    pkg = tmp_path / "predictivity"
    _write(
        pkg,
        {
            "__init__.py": '__version__ = "0"\n',
            "scripting.py": "from predictivity import noise_of_runner\n",
            "noise_of_runner.py": "X = 1\n",
            "errors.py": "class InputError(ValueError): pass\n",
            "core/__init__.py": "",
            "core/ridge.py": "from .gram import g\nfrom ..errors import InputError\n",
            "core/gram.py": "def g():\n    from predictivity.core import lazy\n",
            "core/lazy.py": "Y = 2\n",
            "core/unused.py": "Z = 3\n",
            "aggregate/__init__.py": "",
            "aggregate/fits.py": "import predictivity.core.ridge\n",
        },
    )
    script = tmp_path / "script.py"
    script.write_text(
        "import numpy as np\n"
        "from predictivity.scripting import run\n"
        "from predictivity.aggregate import fits\n"
    )
    return pkg, script


def test_closure_follows_relative_package_and_function_level_imports(toy):
    pkg, script = toy
    assert import_closure(script, pkg) == [
        "predictivity.aggregate",
        "predictivity.aggregate.fits",
        "predictivity.core",
        "predictivity.core.gram",
        "predictivity.core.lazy",
        "predictivity.core.ridge",
        "predictivity.errors",
    ]


def test_hash_changes_only_with_modules_in_the_closure(toy):
    pkg, script = toy
    h0 = code_hash(script, pkg)
    for rel in ("core/unused.py", "scripting.py", "noise_of_runner.py", "__init__.py"):
        (pkg / rel).write_text((pkg / rel).read_text() + "# edited\n")
        assert code_hash(script, pkg) == h0, rel
    (pkg / "core/lazy.py").write_text("Y = 3\n")
    h1 = code_hash(script, pkg)
    assert h1 != h0
    (pkg / "core/lazy.py").write_text("Y = 2\n")
    assert code_hash(script, pkg) == h0


def test_real_scripts_closures_exclude_the_runner():
    for script in sorted((REPO / "scripts").glob("*.py")):
        closure = import_closure(script, PACKAGE)
        assert "predictivity.scripting" not in closure, script.name
        assert "predictivity" not in closure, script.name


def test_import_statements_finds_what_ast_walk_finds():
    """The closure reads imports by walking statement bodies only (fast); it must find exactly
    the import statements a full ast.walk finds, in every module and script of the project."""
    from predictivity.codehash import _import_statements

    files = [*(REPO / "workflow/predictivity").rglob("*.py"), *(REPO / "scripts").glob("*.py")]
    tricky = (
        "def f():\n    try:\n        import a\n    except E:\n        from b import c\n"
        "    finally:\n        import d\nclass K:\n    if x:\n        import e\n"
        "    else:\n        with w:\n            for i in y:\n                import f\n"
        "match v:\n    case 1:\n        import g\nwhile t:\n    pass\nelse:\n    import h\n"
    )
    trees = [ast.parse(p.read_text(encoding="utf-8")) for p in files] + [ast.parse(tricky)]
    for tree in trees:
        walked = sorted(
            ast.dump(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
        )
        assert sorted(ast.dump(n) for n in _import_statements(tree)) == walked
    assert len(list(_import_statements(trees[-1]))) == 7
