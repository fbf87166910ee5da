"""The layout docs/architecture.md describes, checked: who imports whom, and the size limits
that keep modules, tab builds and endpoints readable (#12)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "advdemo"
SUBJECTS = ("faces", "adversarial", "translation", "toygan", "gan2d")
ALLOWED = {
    "core": ("advdemo.core",),
    "models": ("advdemo.core", "advdemo.models"),
    **{s: ("advdemo.core", "advdemo.models", f"advdemo.{s}") for s in SUBJECTS},
    "ui": ("advdemo.core", "advdemo.models.runtime", "advdemo.ui"),
    "tabs": ("advdemo",),
    "serve": ("advdemo.core", "advdemo.models", "advdemo.faces", "advdemo.tabs", "advdemo.serve"),
}
NO_GRADIO = ("core", "models", *SUBJECTS, "serve")
MAX_MODULE_LINES, MAX_BUILD_LINES, MAX_ENDPOINT_LINES = 600, 150, 60


def modules(package: str | None = None) -> list[Path]:
    root = PACKAGE / package if package else PACKAGE
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_what_the_architecture_allows(package):
    allowed = ALLOWED[package]
    wrong = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in modules(package)
        for name in imported(path)
        if name.startswith("advdemo.")
        and not any(name == a or name.startswith(a + ".") for a in allowed)
    ]
    if package in NO_GRADIO:
        wrong += [
            f"{path.relative_to(PACKAGE)} imports gradio"
            for path in modules(package)
            if any(n == "gradio" or n.startswith("gradio.") for n in imported(path))
        ]
    assert not wrong, "\n".join(wrong)


def test_library_code_never_holds_a_model_store():
    """Library functions receive their models; only tabs and app.py ask the store."""
    offenders = [
        str(path.relative_to(PACKAGE))
        for package in SUBJECTS
        for path in modules(package)
        if "advdemo.models.store.ModelStore" in imported(path)
        or "advdemo.models.store" in imported(path)
    ]
    assert not offenders


def test_few_modules_sit_directly_in_the_package():
    assert len(list(PACKAGE.glob("*.py"))) <= 4


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_too_long(path):
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES


@pytest.mark.parametrize("path", modules("tabs"), ids=lambda p: p.name)
def test_tabs_build_and_endpoints_stay_short(path):
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            length = node.end_lineno - node.lineno + 1
            limit = MAX_BUILD_LINES if node.name == "build" else MAX_ENDPOINT_LINES
            assert length <= limit, f"{path.name}:{node.name} is {length} lines (≤ {limit})"
