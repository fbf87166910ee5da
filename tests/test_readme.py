"""README's promises, checked: the two quick-start commands match what CI runs, and every API
example in it runs against the launched app as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def test_quick_start_is_exactly_two_commands_and_ci_runs_the_test_one():
    blocks = re.findall(r"```bash\n(.*?)```", _section("Quick start"), re.S)
    commands = [line.split("#")[0].strip() for b in blocks for line in b.splitlines()]
    commands = [c for c in commands if c]
    assert commands == ["python3 bootstrap.py app", "python3 bootstrap.py test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 bootstrap.py test" in ci


@pytest.mark.slow
def test_api_examples_run_against_the_app(app_url, store):
    code = "\n".join(re.findall(r"```python\n(.*?)```", _section("API"), re.S))
    assert "Client(" in code
    code = code.replace(
        'Client("http://127.0.0.1:7860/")',
        f'Client("{app_url}/", analytics_enabled=False, verbose=False)',
    )
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(ROOT)  # the examples name files relative to the repository, as a reader would
    try:
        exec(compile(code, "README.md (API examples)", "exec"), namespace)
    finally:
        os.chdir(cwd)
    assert namespace["top5"]["label"] != namespace["top5_after"]["label"]
    assert Path(namespace["face"]).is_file()
    assert Path(namespace["translated"]).is_file() and namespace["reconstruction"] is None
    assert "PGD-trained" in namespace["table"] and "fooled on the cat" in namespace["queries"]
    assert "untargeted" in namespace["transfer_summary"]
    assert "Printed and photographed 4 times" in namespace["printed"]
    assert "tiger cat" in namespace["linearity"] and "R²" in namespace["linearity"]
    _check_the_arithmetic_example_shows_glasses(namespace, store)


def _check_the_arithmetic_example_shows_glasses(namespace: dict, store) -> None:
    """A reader who copies the example must see the effect it describes: the exemplars are
    what their names say (by the glasses probe the latent explorer reads out), and the result
    reads glasses above every input without them. The picture the API returned is the one
    whose code is read here."""
    from PIL import Image

    from advdemo.faces import arithmetic as ar
    from advdemo.faces.attributes import attribute_score, seed_codes

    generator = store.face_generator()
    slots = [namespace[name] for name in ("men_glasses", "men", "women")]
    with_glasses, *without = (
        attribute_score(generator, seed_codes(generator, seeds), "glasses") for seeds in slots
    )
    without_max = max(float(p.max()) for p in without)
    assert float(with_glasses.min()) > 0.5 and without_max < 0.5, (with_glasses, without)
    arith = ar.vector_arithmetic(generator, *slots, noise_scale=0.25)
    result = float(attribute_score(generator, arith.result, "glasses"))
    assert result > 0.5 and result > without_max, (result, without_max)

    shown = np.asarray(Image.open(namespace["averaged"]).convert("RGB"), dtype=np.float32)
    expected = ar.render(arith, generator.generate).averaged.convert("RGB")
    assert shown.shape == np.asarray(expected).shape
    assert np.abs(shown - np.asarray(expected, dtype=np.float32)).mean() < 3.0  # of 255


@pytest.mark.parametrize("path", ["assets/README.md", "checkpoints/README.md"])
def test_notes_beside_data_exist(path):
    assert (ROOT / path).read_text().strip()
