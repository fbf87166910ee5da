"""timm in the model store: the built-in EfficientNet-Lite weights on timm's architecture (same
logits as the hand-written network they replaced), any timm ImageNet classifier by name, loaded
offline from a checkpoint made here in the hub's layout, and clear messages offline."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import save_file

from advdemo.core import images
from advdemo.core.errors import InputError, ModelUnavailable
from advdemo.models import registry, timm_models
from advdemo.models.store import ModelStore

SMALL = "mobilenetv3_small_050.lamb_in1k"  # 1.6 M parameters: a timm classifier made in ms

# Logits of the hand-written EfficientNet-Lite network (advdemo/models/nets/efficientnet_lite.py,
# removed in the commit that added this test) with the packaged weights: the cat's 5 largest
# (class, logit), and 5 logits and the arg max for torch.rand(1, 3, S, S) seeded with 15.
# The timm architecture with the key map gave these to 1e-6 (largest difference 0.0).
HAND_WRITTEN = {
    "efficientnet-lite0": (
        [(282, 9.2067), (285, 9.1559), (281, 8.3854), (287, 5.835), (904, 3.4433)],
        [-2.7293, 0.5221, 0.2189, -0.8242, 0.9319],
        21,
    ),
    "efficientnet-lite2": (
        [(285, 8.4348), (282, 6.9232), (281, 6.7177), (287, 4.4677), (622, 2.7321)],
        [-3.1469, 0.4362, -0.4532, 0.2644, 2.0997],
        92,
    ),
}


@pytest.mark.parametrize("name", list(HAND_WRITTEN))
def test_built_in_weights_on_timm_give_the_hand_written_networks_logits(store, name):
    top5, rand5, rand_argmax = HAND_WRITTEN[name]
    model = store.classifier(name)
    x = model.prepare(images.load_image(images.asset("chelsea.png")))
    r = torch.rand(
        1, 3, model.input_size, model.input_size, generator=torch.Generator().manual_seed(15)
    )
    with torch.inference_mode():
        cat, noise = model(x)[0].cpu(), model(r.to(model.device))[0].cpu()
    values, indices = cat.topk(5)
    assert indices.tolist() == [c for c, _ in top5]
    assert torch.allclose(values, torch.tensor([v for _, v in top5]), atol=1e-3)
    assert torch.allclose(noise[[0, 1, 281, 500, 999]], torch.tensor(rand5), atol=1e-3)
    assert int(noise.argmax()) == rand_argmax


def test_the_key_map_nests_blocks_by_stage():
    """Lite2's 20 flat blocks land in timm's 7 stages, every key once, every shape equal."""
    from advdemo.models import checkpoints

    packaged = torch.load(checkpoints.BUILTIN["efficientnet-lite2"].path, weights_only=True)
    converted = registry.lukemelas_to_timm(packaged)
    target = registry.spec("efficientnet-lite2").build().state_dict()
    assert converted.keys() == target.keys()
    assert all(converted[k].shape == target[k].shape for k in target)


def _hub(tmp_path, file_name: str, reference: torch.nn.Module):
    """A stand-in for the Hugging Face hub holding `reference`'s weights as timm publishes them
    (model.safetensors, or a torch.save'd pytorch_model.bin), and the list of files asked for."""
    hub = tmp_path / "hub" / "timm" / SMALL
    hub.mkdir(parents=True)
    state = {k: v.contiguous() for k, v in reference.state_dict().items()}
    if file_name.endswith(".safetensors"):
        save_file(state, hub / file_name)
    else:
        torch.save(state, hub / file_name)
    asked = []

    def download(repo_id: str, filename: str, folder):
        asked.append((repo_id, filename))
        source = tmp_path / "hub" / repo_id / filename
        if not source.is_file():
            raise FileNotFoundError(filename)
        return shutil.copy(source, folder / filename)

    return download, asked


@pytest.mark.parametrize("file_name", ["model.safetensors", "pytorch_model.bin"])
def test_a_timm_checkpoint_in_the_hubs_layout_loads_with_the_same_logits(tmp_path, file_name):
    """The store's own path: fetched through the hub downloader, read by timm's loader."""
    torch.manual_seed(0)
    reference = timm_models.build(SMALL).eval()
    download, asked = _hub(tmp_path, file_name, reference)
    store = ModelStore("cpu", checkpoint_dir=tmp_path / "ckpt", hub_download=download)
    model = store.classifier("timm/" + SMALL)

    from timm.data import resolve_data_config

    data = resolve_data_config({}, model=reference)
    assert (
        model.input_size == data["input_size"][-1] and model.interpolation == data["interpolation"]
    )
    assert model.crop_fraction == data["crop_pct"]
    x = torch.rand(2, 3, model.input_size, model.input_size)
    mean = torch.tensor(data["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(data["std"]).view(1, 3, 1, 1)
    with torch.inference_mode():
        expected = reference((x - mean) / std)
        got = model(x)
    assert (got - expected).abs().max() < 1e-5
    assert asked[-1] == (f"timm/{SMALL}", file_name)
    # on disk now, with its sha256: a second store does not fetch it again
    ModelStore("cpu", checkpoint_dir=tmp_path / "ckpt", hub_download=download).classifier(
        f"timm/{SMALL.split('.')[0]}"  # the architecture alone: timm's default weights
    )
    assert len(asked) == len(set(asked))


def test_at_most_max_timm_models_stay_loaded(tmp_path):
    torch.manual_seed(0)
    download, _ = _hub(tmp_path, "model.safetensors", timm_models.build(SMALL).eval())
    store = ModelStore(
        "cpu", checkpoint_dir=tmp_path / "ckpt", hub_download=download, max_timm_models=1
    )
    name = f"timm/{SMALL}"
    first = store.classifier(name)
    derived = store.derived(("folded", name), object)  # e.g. its gradient path
    assert store.classifier(name) is first and store.derived(("folded", name), list) is derived
    store._keep_recent("timm/another")  # as if a second timm model was just used
    assert name not in store._models and ("folded", name) not in store._derived
    assert store.classifier(name) is not first  # loaded again from disk


def test_an_unreachable_hub_is_a_clear_message_at_once(tmp_path, monkeypatch):
    """The real downloader, with the hub's address on a closed local port: refused at once,
    not after the hub client's retries; nothing left behind."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    store = ModelStore("cpu", checkpoint_dir=tmp_path)
    with pytest.raises(ModelUnavailable, match=r"offline.*built-in models work"):
        store.classifier("timm/adv_inception_v3")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelUnavailable, match="HF_HUB_OFFLINE"):
        store.classifier("timm/ens_adv_inception_resnet_v2")
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    "name, message",
    [
        ("timm/resnt50", r"Unknown timm model 'resnt50'\. Did you mean .*timm/resnet50"),
        ("timm/vit_base_patch16_224.augreg_in21k", "not an ImageNet-1k classifier"),
        ("timm/../../etc/passwd", "not a timm model name"),
        ("timm/resnet50.no_such_tag", "no pretrained weights"),
        ("inception_v3", "Unknown model.*timm/<name>"),
    ],
)
def test_unknown_timm_names_are_clear_errors(name, message):
    with pytest.raises(InputError, match=message):
        registry.classifier_name(name)


def test_adversarially_trained_models_are_listed_with_their_source():
    listed = {m["name"]: m for m in registry.catalogue()}
    for full in ("inception_v3.tf_adv_in1k", "inception_resnet_v2.tf_ens_adv_in1k"):
        entry = listed["timm/" + full]
        assert entry["origin"] == "timm" and entry["timm_name"] == full
        assert not entry["offline"] and f"hub timm/{full}" in entry["source"]
        assert registry.spec("timm/" + full).input_size == 299  # from timm's config
    assert listed["efficientnet-lite0"]["origin"] == "built-in"
    assert registry.classifier_name("timm/adv_inception_v3") == "timm/inception_v3.tf_adv_in1k"
