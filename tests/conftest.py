"""Shared fixtures: the app launched in-process on a free port, and Debian's Chromium.

Tests that need the network must not exist: everything here runs offline after set-up.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("NO_PROXY", "localhost,127.0.0.1")
os.environ.setdefault("no_proxy", "localhost,127.0.0.1")
# Under pytest-xdist each worker launches its own app: give each its own Gradio cache folder,
# so one app's clean-up never deletes a file another is serving.
if os.environ.get("PYTEST_XDIST_WORKER"):
    _base = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    os.environ["GRADIO_TEMP_DIR"] = str(_base / os.environ["PYTEST_XDIST_WORKER"])
    # And each worker's torch gets its share of the cores, not all of them: two workers with
    # two OpenMP threads each on two cores spin against each other. Measured at load 4.5 on
    # this 2-core machine: 120 PGD steps on the cat took 52 s with two threads, 22 s with one.
    # Set before torch is imported (its OpenMP pool reads it once); apps the tests start in a
    # subprocess inherit it.
    _share = max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))
    os.environ.setdefault("MKL_NUM_THREADS", str(_share))

import pytest

from benchmarks.common import launch_local

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"  # screenshots the browser tests take (not tracked)
CHROMIUM = os.environ.get("ADVDEMO_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def store():
    """One model store for the whole session, as app.main makes (models load on first use)."""
    from advdemo.models.store import ModelStore

    return ModelStore()


@pytest.fixture(scope="session")
def demo(store):
    """The whole app's Blocks (launched by app_url)."""
    import app as app_module

    return app_module.build_demo(store)


@pytest.fixture(scope="session")
def app_url(demo):
    """The whole app, launched once per test session in this process."""
    import app as app_module

    yield launch_local(demo, **app_module.launch_options())
    demo.close()


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, analytics_enabled=False, verbose=False)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# pytest-playwright reads this to launch Debian's chromium instead of a downloaded browser.
@pytest.fixture(scope="session")
def browser_type_launch_args():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("ADVDEMO_REQUIRE_BROWSER") == "1":  # CI: a skip would hide a gap
            pytest.fail(message)
        pytest.skip(message)
    return {
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args():
    return {"viewport": {"width": 1400, "height": 1000}}


@pytest.fixture
def offline_store(tmp_path):
    """A model store of its own: the built-in weights linked into a temporary checkpoint folder
    (so first-use downloads land there, never in the real cache), nothing loaded yet, and a
    network that fails at once. Its online/ folder is `offline_store.checkpoint_dir / "online"`."""
    import urllib.error

    from advdemo.models import checkpoints
    from advdemo.models.store import ModelStore

    for weights in checkpoints.BUILTIN.values():
        (tmp_path / weights.filename).symlink_to(weights.path)
    (tmp_path / "online").mkdir()

    def no_network(url, dst, *args, **kwargs):  # no test may touch the network
        raise urllib.error.URLError("test: network disabled")

    return ModelStore(checkpoint_dir=tmp_path, download=no_network)


def place_online(store, name: str, state_dict: dict) -> None:
    """Put `state_dict` where `store` keeps the first-use download of online model `name`, and
    record its sha256 as a real download does (a file without one is refused)."""
    import torch

    from advdemo.models import checkpoints, registry

    path = store.weights_path(registry.spec(name))
    torch.save(state_dict, path)
    checkpoints.record_sha256(path)


def wait_for_new_image(page, selector: str, before: str | None, timeout: float = 30_000) -> str:
    """Wait until the <img> at CSS `selector` shows a source other than `before`, loaded and
    decoded; returns the new source. (`#elem-id img` for a gr.Image.)"""
    page.wait_for_function(
        """([sel, before]) => { const img = document.querySelector(sel);
            return img && img.src && img.src !== before && img.complete
                && img.naturalWidth > 0; }""",
        arg=[selector, before],
        timeout=timeout,
    )
    return page.locator(selector).get_attribute("src")
