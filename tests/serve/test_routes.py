"""advdemo.serve without Ray: what is routed, how files cross, and that the replicas' code
(the batched faces above all) answers exactly as the embedded endpoints do."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image, ImageChops

from advdemo.core import images
from advdemo.serve import deployments, remote, routes
from advdemo.tabs import adversarial, latent_explorer


def test_every_route_is_a_module_level_endpoint_taking_the_store_first():
    for name, deployment in routes.ROUTES.items():
        fn = routes.endpoint(name)
        assert routes.name_of(fn) == name and deployment in deployments.DEFAULTS
        assert next(iter(inspect.signature(fn).parameters)) == "store", name
    assert routes.BATCHED <= set(routes.ROUTES)


@pytest.mark.parametrize("name", ["os.system", "advdemo.tabs.toy_gan.build", "builtins.eval", ""])
def test_nothing_outside_the_routes_is_ever_resolved(name):
    with pytest.raises(LookupError):
        routes.endpoint(name)
    replica = deployments.EndpointReplica.__new__(deployments.EndpointReplica)
    replica.deployment, replica.names = "heavy", frozenset({"advdemo.tabs.adversarial.attack"})
    with pytest.raises(LookupError):
        replica.call("advdemo.tabs.adversarial.classify", (), {})  # another deployment's


def test_files_cross_as_content_and_come_back_as_paths_of_their_own(tmp_path):
    inside = tmp_path / "in" / "photo.png"
    inside.parent.mkdir()
    Image.new("RGB", (4, 3), "red").save(inside)
    value = (str(inside), [inside, "efficientnet-lite0"], {"k": str(inside)}, gr.skip(), 3)
    shipped = routes.ship(value, roots=(tmp_path / "in",))
    assert isinstance(shipped[0], routes.ShippedFile) and shipped[0].name == "photo.png"
    assert shipped[1][1] == "efficientnet-lite0" and shipped[3] == gr.skip()
    back = routes.unship(shipped, tmp_path / "out")
    assert back[0] != str(inside) and Path(back[0]).read_bytes() == inside.read_bytes()
    assert back[0] != back[1][0]  # two files never share a path
    assert back[2]["k"].endswith("photo.png") and back[4] == 3


def test_paths_outside_the_temp_folders_are_never_read(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("no")
    link = tmp_path / "in" / "link.txt"
    link.parent.mkdir()
    link.symlink_to(outside)
    for value in (str(outside), str(link), "relative.txt", str(tmp_path / "in" / ".." / "x")):
        assert routes.ship(value, roots=(tmp_path / "in",)) == value


def test_the_progress_tracker_stays_on_the_front_end():
    args, kwargs = routes.outgoing((1, gr.Progress()), {"progress": gr.Progress(), "k": 2})
    assert args == (1,) and kwargs == {"k": 2}


def test_replicas_per_deployment_are_read_from_the_environment():
    assert remote.parse_replicas("heavy=4, faces=2") == {"heavy": 4, "faces": 2}
    assert remote.parse_replicas("") == {}
    for bad in ("heavy", "gpu=2", "heavy=-1", "heavy=two"):
        with pytest.raises(ValueError):
            remote.parse_replicas(bad)


@pytest.fixture(scope="module")
def faces_replica():
    return deployments.FacesReplica(routes.FACES, warm=False)


def _same_picture(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a, b).getbbox() is None


def test_batched_faces_are_each_users_own_face_as_the_endpoint_draws_it(faces_replica):
    """Many users' slider requests in one forward pass: each answer equals what the embedded
    endpoint returns for that request alone (one bad value fails its own request only)."""
    zeros = [0.0] * 14
    calls = [
        ((7, False, *zeros), {}),
        ((3, True, 2.0, *zeros[1:10], 3.0, -1.5, 0.0, 1.0), {}),
        ((float("nan"), False, *zeros), {}),
        ((11, False, *zeros[:10]), {"glasses": 4.0, "smile": 0.0, "man": 0.0, "dark_hair": 0.0}),
    ]
    answers = faces_replica.generate_many(calls)
    assert isinstance(answers[2], Exception)
    for (args, kwargs), answer in zip(calls, answers, strict=True):
        if isinstance(answer, Exception):
            with pytest.raises(type(answer)):
                latent_explorer.generate(faces_replica.store, *args, **kwargs)
            continue
        image, readout = latent_explorer.generate(faces_replica.store, *args, **kwargs)
        assert _same_picture(answer[0], image)
        assert answer[1] == readout


@pytest.mark.slow
def test_a_replica_runs_the_endpoint_on_a_shipped_upload(tmp_path):
    replica = deployments.EndpointReplica(routes.LIGHT, warm=False)
    upload = tmp_path / "cat.png"
    upload.write_bytes(images.asset("chelsea.png").read_bytes())
    args = routes.ship((str(upload), "efficientnet-lite0"), roots=(tmp_path,))
    got = replica.call("advdemo.tabs.adversarial.classify", args, {})
    assert got == adversarial.classify(replica.store, str(upload), "efficientnet-lite0")
    assert not any(replica.inputs.glob("call-*"))  # the replica's copy is gone


def test_a_replica_warms_up_the_tabs_of_its_endpoints():
    from advdemo.tabs import cyclegan

    heavy = frozenset(n for n, d in routes.ROUTES.items() if d == routes.HEAVY)
    assert "advdemo.tabs.adversarial_physical.physical_world" in heavy  # a section: no warm_up
    assert deployments.warm_ups(heavy) == [adversarial.warm_up, cyclegan.warm_up]


@pytest.mark.slow
def test_importing_the_backend_does_not_import_ray():
    code = "import sys, advdemo.serve.routes, advdemo.serve.deployments, advdemo.serve.remote\n"
    code += "assert 'ray' not in sys.modules, 'ray imported at import time'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_the_app_is_embedded_unless_a_ray_address_is_given(monkeypatch):
    import app as app_module

    monkeypatch.delenv(remote.ENV_ADDRESS, raising=False)
    monkeypatch.setattr(remote, "from_environment", lambda: pytest.fail("Ray was asked for"))
    assert app_module.remote_backend() is None
    monkeypatch.setenv(remote.ENV_ADDRESS, "  ")
    assert app_module.remote_backend() is None
    monkeypatch.setenv(remote.ENV_ADDRESS, "local")
    monkeypatch.setattr(remote, "from_environment", lambda: "the backend")
    assert app_module.remote_backend() == "the backend"
