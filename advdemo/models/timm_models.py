"""Any ImageNet classifier of timm (pytorch-image-models), downloaded on first use.

A timm model is named "timm/<timm name>", e.g. "timm/inception_v3.tf_adv_in1k" (which is also
its repository on the Hugging Face hub). Old names work too ("timm/adv_inception_v3"), and an
architecture without a tag means timm's default weights for it. What the model needs (input
size, mean and std, interpolation, crop) comes from timm's pretrained config, never from here.

Loading is timm's own: the weights file (safetensors where the hub has one, else a pickle read
with weights_only) is fetched into the store's online/timm/ folder, then
`timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": path})` builds the
network and runs timm's per-model checkpoint filters, exactly as timm does for a local file.
timm is imported on first use of this module's functions, never at import.
"""

from __future__ import annotations

import difflib
import os
import re
import socket
import threading
import urllib.request
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from torch import nn

from advdemo.core.errors import InputError, ModelUnavailable

PREFIX = "timm/"
# Shown in the playground's list and in /models; any other timm ImageNet classifier can be
# typed (or passed through the API) as "timm/<name>".
LISTED = {
    "inception_v3.tf_adv_in1k": "Inception-v3, adversarially trained (timm, online)",
    "inception_resnet_v2.tf_ens_adv_in1k": (
        "Inception-ResNet-v2, ensemble adversarial training (timm, online)"
    ),
    "inception_v3.tf_in1k": "Inception-v3, standard training (timm, online)",
    "resnet50.a1_in1k": "ResNet-50 (timm, online)",
    "convnext_tiny.fb_in1k": "ConvNeXt-Tiny (timm, online)",
}
ABOUT = {
    "inception_v3.tf_adv_in1k": "trained on FGSM examples as well (Kurakin et al., 2016)",
    "inception_resnet_v2.tf_ens_adv_in1k": (
        "trained on adversarial examples of other, fixed models (Tramèr et al., 2018): robust "
        "to transfer attacks in particular"
    ),
    "inception_v3.tf_in1k": "the same architecture trained normally, for comparison",
}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm's hub repositories hold
# The largest weights file fetched (a Space has a few GB of memory; timm's giants would take
# it all): $ADVDEMO_TIMM_MAX_MB, else this. Inception-ResNet-v2 is 224 MB, ConvNeXt-Base 354.
MAX_WEIGHTS_MB = 600
PROBE_TIMEOUT_S = 3.0  # an unreachable hub must fail fast, not after the hub client's retries
NAME_PATTERN = re.compile(r"[a-z0-9_.\-]{1,120}")

HubDownload = Callable[[str, str, Path], Path]  # (repo id, file name, folder) -> local path


def _timm():
    import timm  # a second or more: only when a timm model is asked for

    return timm


def is_timm(name: object) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def _known_names() -> list[str]:
    """Every pretrained timm name, and every architecture alone (its default weights)."""
    full = _timm().list_pretrained()
    return sorted(set(full) | {n.partition(".")[0] for n in full})


def resolve(name: str) -> str:
    """ "timm/<name>" -> the full timm name (architecture.tag) of an ImageNet-1k classifier with
    pretrained weights; anything else is an InputError that says why."""
    timm = _timm()
    from timm.models import _registry

    raw = name.removeprefix(PREFIX).strip().lower()
    if not NAME_PATTERN.fullmatch(raw):
        raise InputError(
            f"{name[:140]!r} is not a timm model name: expected timm/<name>, e.g. "
            "timm/inception_v3.tf_adv_in1k."
        )
    arch, _, tag = raw.partition(".")
    renamed = getattr(_registry, "_deprecated_models", {}).get(arch)
    if renamed and not tag:
        raw = renamed
    if not timm.is_model(raw.partition(".")[0]):
        close = difflib.get_close_matches(raw, _known_names(), n=3, cutoff=0.75)
        hint = f" Did you mean {', '.join(PREFIX + c for c in close)}?" if close else ""
        raise InputError(
            f"Unknown timm model {raw!r}.{hint} `timm.list_pretrained()` lists every name."
        )
    try:
        cfg = timm.models.get_pretrained_cfg(raw)
    except RuntimeError:  # a tag the architecture does not have
        cfg = None
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        tags = timm.list_pretrained(raw.partition(".")[0] + ".*")[:8]
        which = f" Its weights: {', '.join(PREFIX + t for t in tags)}." if tags else ""
        raise InputError(f"timm has no pretrained weights named {raw!r}.{which}")
    full = f"{cfg.architecture}.{cfg.tag}" if cfg.tag else cfg.architecture
    if cfg.num_classes != 1000:
        raise InputError(
            f"timm's {full!r} is not an ImageNet-1k classifier ({cfg.num_classes} outputs); "
            "the playground needs the 1000 ImageNet classes (names ending in in1k)."
        )
    _, h, w = cfg.input_size
    if h != w or cfg.crop_mode not in ("center", "squash"):
        raise InputError(
            f"timm's {full!r} expects a {w}×{h} input prepared by {cfg.crop_mode!r} cropping, "
            "which the playground does not reproduce; pick another model."
        )
    return full


@lru_cache(maxsize=256)
def config(full_name: str) -> dict[str, Any]:
    """What the model expects, from timm's pretrained config (resolve_data_config), plus where
    its weights are."""
    timm = _timm()
    from timm.data import resolve_data_config

    cfg = timm.models.get_pretrained_cfg(full_name)
    data = resolve_data_config({}, pretrained_cfg=cfg.to_dict())
    return {
        "input_size": int(data["input_size"][-1]),
        "mean": tuple(float(v) for v in data["mean"]),
        "std": tuple(float(v) for v in data["std"]),
        "interpolation": str(data["interpolation"]),
        "crop_pct": float(data["crop_pct"]),
        "crop_mode": str(data["crop_mode"]),
        "hub_id": cfg.hf_hub_id,
        "hub_file": cfg.hf_hub_filename,
        "url": cfg.url or None,
        "licence": cfg.license or "see the model card",
    }


def build(full_name: str) -> nn.Module:
    """The architecture with timm's random initialisation (tests; loading uses load())."""
    return _timm().create_model(full_name, pretrained=False)


def weights_dir(checkpoint_dir: Path, full_name: str) -> Path:
    return Path(checkpoint_dir) / "online" / "timm" / full_name


def local_weights(checkpoint_dir: Path, full_name: str) -> Path | None:
    """The weights file fetched earlier for `full_name`, if there is one."""
    folder = weights_dir(checkpoint_dir, full_name)
    return next((folder / f for f in WEIGHT_FILES if (folder / f).is_file()), None)


def fetch(
    full_name: str, checkpoint_dir: Path, hub_download: HubDownload, url_download: Callable
) -> Path:
    """Download the weights of `full_name` into its online/timm folder; the local path.

    From the Hugging Face hub where timm's config names a repository (safetensors first, the
    pickle only where there is no safetensors file), else from the config's URL."""
    cfg = config(full_name)
    folder = weights_dir(checkpoint_dir, full_name)
    folder.mkdir(parents=True, exist_ok=True)
    if cfg["hub_id"]:
        files = (cfg["hub_file"],) if cfg["hub_file"] else WEIGHT_FILES
        missing: Exception | None = None
        for file in files:
            try:
                return Path(hub_download(cfg["hub_id"], file, folder))
            except FileNotFoundError as exc:  # the hub has no such file: try the next
                missing = exc
        raise ModelUnavailable(f"The hub repository {cfg['hub_id']} has no weights file.") from (
            missing
        )
    target = folder / "pytorch_model.bin"
    partial = target.with_suffix(".partial")
    try:
        url_download(cfg["url"], str(partial), hash_prefix=None, progress=False)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return target


def load(full_name: str, path: Path) -> nn.Module:
    """timm's model `full_name` with the weights in `path`, through timm's own loader (its
    checkpoint filters included); safetensors, or torch.load with weights_only=True."""
    return _timm().create_model(
        full_name, pretrained=True, pretrained_cfg_overlay={"file": str(path)}
    )


# ---------------------------------------------------------------------- the real hub


def _reachable(host: str, port: int, timeout: float) -> bool:
    """Whether a TCP connection to host:port opens within `timeout` seconds, name lookup
    included (run in a thread of its own: a lookup is not bounded by a socket timeout)."""
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, name="advdemo-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def hub_address() -> tuple[str, int]:
    """Where a connection to the hub goes first: its host, or the HTTPS proxy in between."""
    from huggingface_hub import constants

    endpoint = urlparse(constants.ENDPOINT)
    host = endpoint.hostname or ""
    proxy = urllib.request.getproxies().get("https")
    if proxy and not urllib.request.proxy_bypass(host):
        via = urlparse(proxy if "://" in proxy else "http://" + proxy)
        return via.hostname or "", via.port or 80
    return host, endpoint.port or (443 if endpoint.scheme == "https" else 80)


def hub_download(repo_id: str, filename: str, folder: Path) -> Path:
    """Fetch one file of a hub repository into `folder` (the default of ModelStore).

    Fails fast and says why: with HF_HUB_OFFLINE set, or when the hub (or the proxy) cannot be
    reached within PROBE_TIMEOUT_S (the hub client alone retries for about 25 s). A file the
    repository does not have raises FileNotFoundError."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    if constants.HF_HUB_OFFLINE:
        raise ConnectionError("HF_HUB_OFFLINE is set")
    host, port = hub_address()
    if not _reachable(host, port, PROBE_TIMEOUT_S):
        raise ConnectionError(f"{host}:{port} cannot be reached")
    try:
        size = get_hf_file_metadata(hf_hub_url(repo_id, filename), timeout=10).size or 0
        limit = float(os.environ.get("ADVDEMO_TIMM_MAX_MB", MAX_WEIGHTS_MB))
        if size > limit * 1e6:
            raise ModelUnavailable(
                f"{repo_id}'s weights are {size / 1e6:,.0f} MB, more than this app fetches "
                f"({limit:,.0f} MB, $ADVDEMO_TIMM_MAX_MB); pick a smaller model."
            )
        return Path(hf_hub_download(repo_id, filename, local_dir=folder, etag_timeout=10))
    except LocalEntryNotFoundError as exc:  # the connection dropped in between
        raise ConnectionError(str(exc).splitlines()[0]) from exc
    except EntryNotFoundError as exc:
        raise FileNotFoundError(filename) from exc
