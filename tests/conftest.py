"""Shared fixtures: the app launched in-process on a free port, and Debian's Chromium.

Tests that need the network must not exist: everything here runs offline after set-up.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("NO_PROXY", "localhost,127.0.0.1")
os.environ.setdefault("no_proxy", "localhost,127.0.0.1")

import pytest

from benchmarks.common import launch_local

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"  # screenshots the browser tests take (not tracked)
CHROMIUM = os.environ.get("ADVDEMO_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def demo():
    """The whole app's Blocks (launched by app_url)."""
    import app as app_module

    return app_module.build_demo()


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
