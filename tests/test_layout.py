"""The layout holds (docs/ARCHITECTURE.md): read every module's imports, as test_access walks
the URL map, and fail on the ones the rules forbid.

- csa/core is pure: no Flask, no SQLAlchemy, no other csa package.
- A feature never imports another feature's views or forms (shared pieces live in csa/ui).
- Nothing in csa imports the developer tools (tools/) or the tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CSA = ROOT / "csa"
FEATURES = sorted(
    p.name
    for p in CSA.iterdir()
    if p.is_dir() and (p / "__init__.py").exists() and p.name not in {"core", "ui"}
)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, absolute, with its line; `from a import b` gives a.b too."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def _feature_of(path: Path) -> str | None:
    parts = path.relative_to(CSA).parts
    return parts[0] if len(parts) > 1 and parts[0] in FEATURES else None


def test_the_layout_has_features_to_check():
    assert {"rounds", "share", "sheets", "harvest", "register"} <= set(FEATURES)
    assert (CSA / "core" / "allocation.py").exists()


@pytest.mark.parametrize("path", _modules(CSA / "core"), ids=lambda p: p.name)
def test_core_is_pure(path):
    bad = [
        f"{path.name}:{line} imports {name}"
        for line, name in _imports(path)
        if name.split(".")[0] in {"flask", "flask_babel", "flask_login", "sqlalchemy", "werkzeug"}
        or (name.startswith("csa.") and not name.startswith("csa.core"))
    ]
    assert bad == []


def test_no_feature_imports_another_features_views_or_forms():
    bad = []
    for path in _modules(CSA):
        own = _feature_of(path)
        for line, name in _imports(path):
            parts = name.split(".")
            if (
                own is not None
                and len(parts) >= 3
                and parts[0] == "csa"
                and parts[1] in FEATURES
                and parts[1] != own
                and parts[2] in {"views", "forms"}
            ):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert bad == []


def test_the_app_never_imports_tools_or_tests():
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _modules(CSA)
        for line, name in _imports(path)
        if name.split(".")[0] in {"tools", "tests"}
    ]
    assert bad == []


def test_the_check_catches_a_cross_feature_import(tmp_path):
    """The walk above sees a forbidden import when there is one (it cannot pass on nothing)."""
    sample = tmp_path / "x.py"
    sample.write_text("from csa.share.forms import HoldForm\nimport csa.rounds.views\n")
    names = [name for _line, name in _imports(sample)]
    assert "csa.share.forms.HoldForm" in names
    assert "csa.rounds.views" in names


def test_every_package_is_in_the_wheel():
    """A package missing from pyproject.toml works in a checkout and fails once installed."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in CSA.rglob("__init__.py")
        if "translations" not in p.parts
    }
    assert found - listed == set()
