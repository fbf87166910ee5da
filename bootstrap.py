"""Set up advdemo on a machine that has only Python 3.11 and pip, then run the app or the tests.

    python3 bootstrap.py app     # set up (once), then serve http://127.0.0.1:7860
    python3 bootstrap.py test    # set up (once), then lint and run the whole test suite

Each step is skipped when it is already done: the virtual environment (.venv/), the pinned
requirements (re-installed only when requirements*.txt change), the built-in checkpoints
(sha256-checked), for the app the calibration of the fast paths on this CPU (once per CPU and
torch version: a minute or two), and, for the tests, Debian's chromium for the browser tests.
Extra arguments after `test` go to pytest (e.g. `python3 bootstrap.py test -k toygan`).
Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("ADVDEMO_VENV", ROOT / ".venv"))
CHROMIUM = Path("/usr/bin/chromium")
REQUIREMENTS = {"app": ["requirements.txt"], "test": ["requirements.txt", "requirements-dev.txt"]}


def say(message: str) -> None:
    print(f"[bootstrap] {message}", flush=True)


def run(cmd: list[str], **kwargs) -> None:
    say("$ " + " ".join(str(c) for c in cmd))
    subprocess.run(cmd, check=True, **kwargs)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv() -> Path:
    python = venv_python()
    if not python.exists():
        say(f"creating the virtual environment {VENV}")
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    return python


def ensure_requirements(python: Path, kind: str) -> None:
    files = [ROOT / name for name in REQUIREMENTS[kind]]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    stamp = VENV / f".advdemo-{kind}-requirements"
    if stamp.exists() and stamp.read_text().strip() == digest:
        say(f"{kind} requirements already installed")
        return
    t0 = time.monotonic()
    run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            "-r",
            str(files[-1]),
        ]
    )
    stamp.write_text(digest)
    say(f"{kind} requirements installed in {time.monotonic() - t0:.0f} s")


def ensure_checkpoints(python: Path) -> None:
    run([str(python), "-m", "advdemo.models.checkpoints"], cwd=ROOT)


def ensure_calibration(python: Path) -> None:
    """Measure once which fast path (compiled, bf16, channels_last) wins on this CPU; the app
    reads the figures at start and compiles only what was measured to win. A failure here
    is not fatal: without figures the app runs every model eager (correct, slower)."""
    try:
        run([str(python), "-m", "advdemo.models.calibration"], cwd=ROOT)
    except subprocess.CalledProcessError as exc:
        say(f"calibrating the fast paths failed ({exc}); the app will run the models eager")


def ensure_chromium() -> None:
    """Debian's chromium for the browser tests (playwright drives it; no browser download)."""
    if CHROMIUM.exists() or shutil.which("chromium"):
        say("chromium already installed")
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        say(
            "chromium is missing and cannot be installed here (needs root and apt-get); "
            "the browser tests will be skipped"
        )
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run([apt, "update", "-q"], env=env, stdout=subprocess.DEVNULL)
    run(
        [apt, "install", "-y", "-q", "--no-install-recommends", "chromium"],
        env=env,
        stdout=subprocess.DEVNULL,
    )


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test", "setup"):
        print(__doc__)
        return 2
    kind, rest = argv[0], argv[1:]
    python = ensure_venv()
    ensure_requirements(python, "app" if kind == "app" else "test")
    ensure_checkpoints(python)
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "NO_PROXY": "localhost,127.0.0.1",
        "no_proxy": "localhost,127.0.0.1",
    }
    if kind in ("app", "setup"):
        ensure_calibration(python)
    if kind == "setup":
        return 0
    if kind == "app":
        os.chdir(ROOT)
        os.execve(python, [str(python), "app.py", *rest], env)
    ensure_chromium()
    bin_dir = python.parent
    run([str(bin_dir / "ruff"), "check", "."], cwd=ROOT)
    run([str(bin_dir / "ruff"), "format", "--check", "."], cwd=ROOT)
    return subprocess.run(
        [str(python), "-m", "pytest", *parallel(rest), *rest], cwd=ROOT, env=env
    ).returncode


MAX_WORKERS = 4  # each worker launches the app and loads its models (about 2 GB)


def parallel(args: list[str]) -> list[str]:
    """pytest-xdist's options: one worker per core (at most MAX_WORKERS), a test file's tests
    kept on one worker (they share module fixtures), unless the caller chose (-n, -p no:xdist).
    Much of the suite waits on a browser, a server or a subprocess, so two workers on two
    cores finish well before one."""
    if any(a.startswith(("-n", "--numprocesses", "--dist")) or "xdist" in a for a in args):
        return []
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    return ["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
