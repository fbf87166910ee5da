"""The app with its heavy endpoints on Ray Serve (a local Ray instance with 2 CPUs) answers as
the embedded app does: /generate, /attack, /physical_world, /translate and /classify through
gradio_client, side by side with the embedded app of the same test session; bad values get
the same message; concurrent slider requests are batched on the faces replica.

Needs Ray (`pip install -r requirements-ray.txt`); skipped, saying so, without it.
"""

from __future__ import annotations

import inspect
import json
import threading

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from advdemo.core import cache, images
from advdemo.models import runtime
from advdemo.tabs import adversarial, adversarial_request
from advdemo.tabs.adversarial_physical import physical_world
from benchmarks.common import launch_local

pytest.importorskip("ray.serve", reason="Ray is not installed: pip install -r requirements-ray.txt")

pytestmark = pytest.mark.slow

CAT = str(images.asset("chelsea.png"))
ROCKET = str(images.asset("rocket.jpg"))
ZEROS = {k: 0.0 for k in ("pc1", "pc2", "pc3", "pc4", "pc5", "pc6", "pc7", "pc8", "pc9")}


@pytest.fixture(scope="module")
def backend():
    from advdemo.serve.remote import RayBackend

    backend = RayBackend.connect("local", num_cpus=2, warm=False)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def front_store(backend):
    """The Ray app's front end's store: it runs only what is not routed."""
    from advdemo.models.store import ModelStore

    store = ModelStore()
    store.remote = backend
    return store


@pytest.fixture(scope="module")
def ray_client(front_store):
    import app as app_module

    demo = app_module.build_demo(front_store)
    url = launch_local(demo, **app_module.launch_options())
    yield Client(url, analytics_enabled=False, verbose=False)
    demo.close()


def pixels(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def assert_same_picture(a: str, b: str, levels: int = 0, share: float = 1.0) -> None:
    """Same size; no value differs by more than `levels` grey levels, and at most `share` of
    the values differ at all."""
    pa, pb = pixels(a), pixels(b)
    assert pa.shape == pb.shape
    diff = np.abs(pa - pb)
    print(f"max |Δ| {diff.max()} levels, {np.mean(diff > 0):.4%} of values differ")
    assert diff.max() <= levels and np.mean(diff > 0) <= share


def test_generate_is_the_same_face_and_read_outs(client, ray_client):
    args = {"seed": 7, "disentangle": True, "glasses": 3.0, "smile": 1.5, **ZEROS}
    face, readout = ray_client.predict(**args, api_name="/generate")
    here, here_readout = client.predict(**args, api_name="/generate")
    assert_same_picture(face, here)
    assert readout == here_readout


def final(result):
    """An endpoint's answer (the last one, if it streams its answers)."""
    if inspect.isgenerator(result):
        *_, result = result
    return result


ATTACK = {
    "image": CAT,
    "model_name": "efficientnet-lite0",
    "method": "pgd",
    "eps_k": 4,
    "steps": 5,
    "target": "common iguana",
    "mode": "targeted",
    "step_k": 1,
    "lam": 0.001,
}


def test_attack_gives_the_same_result(client, ray_client, store):
    args = ATTACK
    remote = ray_client.predict(**{**args, "image": handle_file(CAT)}, api_name="/attack")
    # The heavy replica runs torch on one thread (its one CPU): the same endpoint run here on
    # one thread gives the same pixels, bit for bit.
    with runtime.single_thread():
        reference = final(adversarial.attack(store, **args))
    for i in (0, 1):  # the adversarial image and the perturbation ×10
        assert np.array_equal(pixels(remote[i]), np.asarray(reference[i], dtype=np.int16))
    # The embedded app runs it on two threads: sums round differently, and where a pixel's
    # gradient is ~0 its sign may flip, so a few per cent of the values differ by a step or
    # two, within the ε budget; the outcome is the same.
    here = client.predict(**{**args, "image": handle_file(CAT)}, api_name="/attack")
    assert len(remote) == len(here)
    assert_same_picture(remote[0], here[0], levels=2 * args["eps_k"], share=0.05)
    assert remote[2]["label"] == here[2]["label"] == "common iguana"  # top-1 after
    before, before_here = remote[4], here[4]  # top-5 before: same classifier, same crop
    assert before["label"] == before_here["label"]
    for a, b in zip(before["confidences"], before_here["confidences"], strict=True):
        assert a["label"] == b["label"] and a["confidence"] == pytest.approx(
            b["confidence"], abs=1e-5
        )
    assert_same_picture(remote[-1], here[-1], levels=2 * args["eps_k"], share=0.05)  # download
    assert remote[-1] != here[-1]  # a file of the front end's own, not the replica's


def test_physical_world_gives_the_same_prints(client, ray_client, front_store, store):
    """The attack above, printed and photographed once per strength: in the heavy replica
    (its attack kept there by the test above, or run first) as in the embedded app."""
    args = {**ATTACK, "count": 1, "strength": 1.0, "seed_value": 0}
    remote = ray_client.predict(**{**args, "image": handle_file(CAT)}, api_name="/physical_world")
    key = adversarial_request.read(store, *ATTACK.values()).key("physical_world", 1, 1.0, 0)
    assert cache.shared(front_store).peek(key) is None  # the replica printed, not the front end
    # As above: the endpoint run here on one thread gives what the one-CPU replica gives, and
    # keeps it, so the embedded app answers the same request with that very result.
    with runtime.single_thread():
        physical_world(store, **args)
    here = client.predict(**{**args, "image": handle_file(CAT)}, api_name="/physical_world")
    assert remote[0] == here[0]  # the summary: survival and accuracy at the chosen strength
    assert json.loads(remote[1]["plot"])["data"] == json.loads(here[1]["plot"])["data"]
    assert [g["caption"] for g in remote[2]] == [g["caption"] for g in here[2]]
    for a, b in zip(remote[2], here[2], strict=True):
        assert_same_picture(_path(a["image"]), _path(b["image"]))


def _path(image) -> str:
    """A gallery image's file (a path, or a file's description, by client version)."""
    return image if isinstance(image, str) else image["path"]


def test_translate_gives_the_same_picture(client, ray_client):
    remote = ray_client.predict(
        handle_file(ROCKET), "cyclegan-photo2vintage", 256, api_name="/translate"
    )
    here = client.predict(handle_file(ROCKET), "cyclegan-photo2vintage", 256, api_name="/translate")
    assert_same_picture(remote[0], here[0])
    assert_same_picture(remote[1], here[1], levels=1)
    assert remote[2] is None and here[2] is None
    assert remote[4].split(". ")[0] == here[4].split(". ")[0]  # "Ran at 256×172 (...)"


def test_classify_and_bad_values_answer_as_embedded(client, ray_client):
    remote = ray_client.predict(handle_file(CAT), "efficientnet-lite0", api_name="/classify")
    here = client.predict(handle_file(CAT), "efficientnet-lite0", api_name="/classify")
    assert remote["label"] == here["label"]


def test_an_endpoints_own_error_reaches_the_user_as_it_does_embedded(client, ray_client, tmp_path):
    """An InputError raised in the replica (the photo is too thin to translate) shows the
    same message, not Ray's remote traceback."""
    thin = tmp_path / "thin.png"
    Image.new("RGB", (400, 16), "white").save(thin)
    messages = []
    for c in (ray_client, client):
        with pytest.raises(AppError, match="the generator needs at least 8") as caught:
            c.predict(handle_file(str(thin)), "cyclegan-photo2vintage", 64, api_name="/translate")
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and "Traceback" not in messages[0]


def test_concurrent_slider_requests_share_a_forward_pass(backend):
    from advdemo.tabs import latent_explorer

    answers: dict[int, tuple] = {}

    def ask(seed: int) -> None:
        answers[seed] = backend.call(latent_explorer.generate, (seed, False, *[0.0] * 14), {})

    before = len(_off_the_loop(backend.batch_sizes))
    threads = [threading.Thread(target=ask, args=(s,)) for s in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(answers) == list(range(12))
    sizes = _off_the_loop(backend.batch_sizes)[before:]
    assert sum(sizes) == 12 and max(sizes) > 1, sizes
    assert len({a[0].tobytes() for a in answers.values()}) == 12  # each seed its own face


def _off_the_loop(fn):
    """fn() in a thread of its own: Ray's blocking .result() refuses to run where an asyncio
    loop runs, and after a browser test in the same worker playwright leaves one running in
    the main thread (the app calls Ray from Gradio's worker threads, where none runs)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()
