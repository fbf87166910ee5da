"""The model store: every registry entry loads (built-ins here, online ones from files we make
in their real key layout), predictions on the CC0 photos are right, and it is thread-safe."""

from __future__ import annotations

import threading

import pytest
import torch

from advdemo.core import images
from advdemo.core.errors import InputError, ModelUnavailable
from advdemo.models import checkpoints, registry
from advdemo.models.store import ModelStore
from tests.conftest import place_online

BUILTIN = registry.names(builtin_only=True)
CAT_CLASSES = {"tiger cat", "Egyptian cat", "tabby", "Persian cat", "Siamese cat", "lynx"}


def test_registry_has_the_built_in_models():
    assert set(BUILTIN) == {
        "dcgan-faces",
        "efficientnet-lite0",
        "efficientnet-lite2",
        "cyclegan-photo2vintage",
    }


@pytest.mark.parametrize("name", list(registry.registry()))
def test_every_spec_says_where_it_comes_from(name):
    spec = registry.spec(name)
    assert spec.title and spec.licence and spec.source and spec.description
    online = spec.url is not None or spec.timm_name is not None
    assert spec.builtin != online  # offline from a package, or online: one
    if spec.task == "classifier":
        assert spec.input_size and 0.5 < spec.crop_fraction <= 1
    if spec.reverse is not None:
        assert registry.spec(spec.reverse).reverse == name


@pytest.mark.parametrize("name", BUILTIN)
def test_built_in_models_load_frozen_on_the_chosen_device(store, name):
    model = store.get(name)
    assert model is store.get(name)  # cached
    assert not model.training
    params = list(model.parameters())
    assert params and all(not p.requires_grad for p in params)
    assert all(p.device.type == store.device.type for p in params)


@pytest.mark.parametrize("name", registry.names("classifier", builtin_only=True))
@pytest.mark.parametrize(
    "photo, expected", [("chelsea.png", CAT_CLASSES), ("coffee.png", {"espresso"})]
)
def test_classifiers_recognise_the_sample_photos(store, name, photo, expected):
    model = store.classifier(name)
    x = model.prepare(images.load_image(images.asset(photo)))
    assert x.shape == (1, 3, model.input_size, model.input_size)
    assert 0 <= x.min() and x.max() <= 1
    top = model.top_k(x, 5)[0]
    assert next(iter(top)) in expected
    assert len(model.labels) == 1000 and "common iguana" in model.labels


def test_classifier_normalises_inside_the_wrapper(store):
    model = store.classifier("efficientnet-lite0")
    x = torch.rand(1, 3, 224, 224, device=store.device)
    by_hand = model.net((x * 255 - 127) / 128)
    assert torch.allclose(model(x), by_hand, atol=1e-4)


def test_unknown_names_are_clear_errors(store):
    with pytest.raises(InputError, match="Unknown model"):
        store.get("no-such-model")
    with pytest.raises(InputError, match="not an image classifier"):
        store.classifier("dcgan-faces")
    with pytest.raises(InputError, match="Unknown class"):
        store.classifier("efficientnet-lite0").class_index("unicorn")


def test_face_generator_is_deterministic_per_seed(store):
    gen = store.face_generator()
    a = gen.generate(gen.sample_z(7, 3))
    b = gen.generate(gen.sample_z(7, 3))
    c = gen.generate(gen.sample_z(8, 3))
    assert a.shape == (3, 3, 64, 64)
    assert 0 <= a.min() and a.max() <= 1 and torch.isfinite(a).all()
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert a.std() > 0.05  # a face, not a flat image


@pytest.mark.parametrize("hw", [(64, 64), (72, 100), (128, 96)])
def test_translator_keeps_size_and_range(store, hw):
    x = images.sample_batch(128)[..., : hw[0], : hw[1]].contiguous()
    y = store.translator("cyclegan-photo2vintage").translate(x)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert 0.005 < (y - x).abs().mean() < 0.5  # it changes the image, but not beyond recognition


def test_translator_refuses_sides_not_multiple_of_four(store):
    with pytest.raises(InputError, match="multiples of 4"):
        store.translator().translate(torch.rand(1, 3, 66, 64))


def test_concurrent_first_use_loads_once(offline_store, monkeypatch):
    name = "efficientnet-lite2"
    calls = []
    real_load = offline_store.load

    def counting_load(n, **kwargs):
        calls.append(n)
        return real_load(n, **kwargs)

    monkeypatch.setattr(offline_store, "load", counting_load)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(offline_store.get(name))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [name] and len({id(r) for r in results}) == 1


def test_derived_objects_are_made_once_per_key(offline_store):
    made = []

    def make():
        made.append(1)
        return object()

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(offline_store.derived(("k",), make)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and len({id(r) for r in results}) == 1
    assert offline_store.derived(("other",), object) is not results[0]


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v3_large", "horse2zebra"])
def test_online_models_fail_offline_with_a_clear_message(offline_store, name):
    with pytest.raises(ModelUnavailable, match="offline"):
        offline_store.get(name)
    assert not list((offline_store.checkpoint_dir / "online").iterdir())  # no partial file left


@pytest.mark.parametrize("name", ["mobilenet_v3_large", "resnet50"])
def test_torchvision_loader_reads_a_checkpoint_in_torchvision_layout(offline_store, name):
    """A file saved exactly as torchvision publishes it (its architecture's state_dict, under
    the URL's file name) loads through the registry and classifies in [0, 1] pixel space."""
    import torchvision.models as tvm

    spec = registry.spec(name)
    reference = tvm.get_model(name, weights=None).eval()
    place_online(offline_store, name, reference.state_dict())
    model = offline_store.classifier(name)
    x = torch.rand(2, 3, spec.input_size, spec.input_size)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.inference_mode():
        expected = reference((x - mean) / std)
    assert torch.allclose(model(x.to(offline_store.device)).cpu(), expected, atol=1e-4)
    assert len(model.labels) == 1000


def test_a_corrupt_online_file_is_a_clear_error(offline_store):
    path = offline_store.weights_path(registry.spec("mobilenet_v3_large"))
    path.write_bytes(b"garbage")
    checkpoints.record_sha256(path)  # downloaded as it is: the server sent garbage
    with pytest.raises(ModelUnavailable, match="Delete the file"):
        offline_store.get("mobilenet_v3_large")


def _downloads(state_dict: dict):
    """A downloader that 'fetches' `state_dict` (and counts its calls)."""
    calls = []

    def download(url, dst, **kwargs):
        calls.append(url)
        torch.save(state_dict, dst)

    return download, calls


def test_online_weights_are_checked_against_their_recorded_sha256(tmp_path):
    """A file put in online/ by hand under an official name, or changed after its download,
    is refused with a message saying so, instead of being loaded as if downloaded (#20)."""
    import torchvision.models as tvm

    reference = tvm.get_model("mobilenet_v3_large", weights=None).state_dict()
    download, calls = _downloads(reference)
    store = ModelStore(checkpoint_dir=tmp_path, download=download)
    store.classifier("mobilenet_v3_large")  # downloaded once, its sha256 recorded
    path = store.weights_path(registry.spec("mobilenet_v3_large"))
    assert calls and checkpoints.recorded_sha256(path) == checkpoints.sha256_of(path)

    later = ModelStore(checkpoint_dir=tmp_path, download=download)  # e.g. the next start
    later.classifier("mobilenet_v3_large")
    assert len(calls) == 1  # found on disk, checked, not fetched again

    torch.save({k: torch.zeros_like(v) for k, v in reference.items()}, path)  # swapped
    with pytest.raises(ModelUnavailable, match="has changed since it was downloaded"):
        ModelStore(checkpoint_dir=tmp_path, download=download).classifier("mobilenet_v3_large")
    checkpoints.record_path(path).unlink()  # now a file nobody recorded: placed by hand
    with pytest.raises(ModelUnavailable, match="was not downloaded by this app"):
        ModelStore(checkpoint_dir=tmp_path, download=download).classifier("mobilenet_v3_large")


def test_a_missing_built_in_checkpoint_names_the_set_up_command(tmp_path):
    empty = ModelStore(checkpoint_dir=tmp_path)
    with pytest.raises(ModelUnavailable, match=r"advdemo\.models\.checkpoints"):
        empty.face_generator()


def test_creating_a_store_loads_nothing(tmp_path):
    assert repr(ModelStore(checkpoint_dir=tmp_path)).endswith("loaded=[])")


def test_warm_up_runs_every_built_in_model(store):
    timings = store.warm_up()
    assert set(timings) == set(BUILTIN) and all(t >= 0 for t in timings.values())
