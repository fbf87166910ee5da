"""The Ray Serve side: replicas that run the routed endpoint functions with a ModelStore of
their own, and the application builders Ray Serve (or KubeRay's RayService) imports.

Three deployments, one Serve application each, so each scales on its own:
- "heavy": attacks, ε sweeps, the physical world's prints (of the attack this replica kept,
  or runs first), CycleGAN translations. One request at a time per replica
  (`max_ongoing_requests=1`): a replica is one or more cores doing one job, and more
  replicas run more jobs at once, on this machine or across a cluster.
- "light": classification, truncation grids, interpolation strips.
- "faces": the latent explorer's face under a slider. Many users move sliders at once, and a
  64×64 face costs far less per face in a batch (4.4 ms alone, ~1 ms each in a batch of 32
  here), so requests arriving within a few ms are generated in one forward pass
  (`@serve.batch`), each user still getting exactly their own face and read-outs.

Ray is imported only inside the builders: this module imports without it.
"""

from __future__ import annotations

import importlib
import inspect
import secrets
import shutil
from pathlib import Path
from typing import Any

import torch

from advdemo.core import files, pictures
from advdemo.faces import attributes as fa
from advdemo.faces import views as fv
from advdemo.models.store import ModelStore
from advdemo.serve.routes import BATCHED, FACES, HEAVY, LIGHT, ROUTES, endpoint, ship, unship

# name -> (replicas, CPUs per replica, requests at once per replica); a two-core machine fits
# one of each; a cluster raises the replicas (or lets Serve autoscale them, see README).
DEFAULTS: dict[str, dict[str, Any]] = {
    HEAVY: {"replicas": 1, "num_cpus": 1.0, "max_ongoing_requests": 1},
    LIGHT: {"replicas": 1, "num_cpus": 0.5, "max_ongoing_requests": 4},
    FACES: {"replicas": 1, "num_cpus": 0.5, "max_ongoing_requests": 64},
}
MAX_BATCH = 32  # faces per forward pass
BATCH_WAIT_S = 0.01  # how long the first slider request waits for others to join its batch
APP_PREFIX = "advdemo-"


class EndpointReplica:
    """Runs the endpoint functions routed to `deployment`, each as the tab defines it, with
    this replica's own model store in place of the front end's."""

    def __init__(self, deployment: str, warm: bool = True) -> None:
        self.deployment = deployment
        self.names = frozenset(n for n, d in ROUTES.items() if d == deployment)
        self.store = ModelStore()
        self.inputs = files.output_dir("replica-inputs")
        if warm:  # the tabs' own warm-ups (CycleGAN compiles here only where calibrated)
            self.store.warm_up_in_background(warm_ups(self.names))

    def _function(self, name: str):
        if name not in self.names:
            raise LookupError(f"{name!r} is not served by the {self.deployment!r} deployment")
        return endpoint(name)

    def _arguments(self, args: tuple, kwargs: dict) -> tuple[tuple, dict, Path]:
        folder = self.inputs / f"call-{secrets.token_hex(8)}"
        return unship(args, folder), unship(kwargs, folder), folder

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        fn = self._function(name)
        args, kwargs, folder = self._arguments(args, kwargs)
        try:
            return ship(fn(self.store, *args, **kwargs))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def stream(self, name: str, args: tuple, kwargs: dict):
        fn = self._function(name)
        args, kwargs, folder = self._arguments(args, kwargs)
        try:
            for item in fn(self.store, *args, **kwargs):
                yield ship(item)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def ready(self) -> str:
        return f"{self.deployment}: {sorted(self.names)}"


def warm_ups(names: frozenset[str]) -> list:
    """The warm_up of each tab module that defines one of the endpoints `names`. A tab's
    section (the playground's physical world) has none of its own: what it uses, its tab
    warms up."""
    modules = sorted({n.rpartition(".")[0] for n in names})
    hooks = (getattr(importlib.import_module(m), "warm_up", None) for m in modules)
    return [hook for hook in hooks if hook is not None]


class FacesReplica(EndpointReplica):
    """The latent explorer's `generate`, for many users' requests in one forward pass."""

    def generate_many(self, calls: list[tuple[tuple, dict]]) -> list[Any]:
        """Each call's (face, read-outs), or the exception it raised (a bad value fails its own
        call only). The same steps as faces.views.face_view, with the generator run once for
        every code; test_ray_backend checks the answers equal the embedded endpoint's."""
        from advdemo.tabs import latent_explorer as tab

        signature = inspect.signature(tab.generate)
        offset_names = list(fv.SLIDER_KEYS)  # the sliders, named as generate names them
        generator, dirs = self.store.face_generator(), tab._directions(self.store)
        out: list[Any] = [None] * len(calls)
        codes = []
        for i, (args, kwargs) in enumerate(calls):
            try:
                given = signature.bind(self.store, *args, **kwargs).arguments
                offsets = [given[k] for k in offset_names]
                disentangle = bool(given["disentangle"])
                code = given.get("code")  # an uploaded face's, or None: the seed's
                z = fv.edited_code(generator, dirs, given["seed"], offsets, disentangle, code)
                codes.append((i, z))
            except Exception as exc:
                out[i] = exc
        if codes:
            faces, features = fa.faces_and_features(generator, torch.stack([z for _, z in codes]))
            scores = fa.scores_from_features(features)
            for row, (i, z) in enumerate(codes):
                mine = {k: float(v[row]) for k, v in scores.items()}
                out[i] = (pictures.upscale(faces[row], fv.FACE_SCALE), fv.readout_html(mine, z))
        return out


def _batched_faces():
    """FacesReplica with @serve.batch on its calls (made here: Ray is imported only now)."""
    from ray import serve

    class BatchedFaces(FacesReplica):
        def __init__(self, deployment: str, warm: bool = True) -> None:
            super().__init__(deployment, warm)
            self.batch_sizes: list[int] = []  # the last 1000 batches' sizes, for tests

        @serve.batch(max_batch_size=MAX_BATCH, batch_wait_timeout_s=BATCH_WAIT_S)
        async def _batch(self, calls: list[tuple[tuple, dict]]) -> list[Any]:
            self.batch_sizes.append(len(calls))
            del self.batch_sizes[:-1000]
            return self.generate_many(calls)

        async def call(self, name: str, args: tuple, kwargs: dict) -> Any:
            if name not in BATCHED:
                return super().call(name, args, kwargs)
            self._function(name)
            result = await self._batch((args, kwargs))
            if isinstance(result, BaseException):
                raise result
            return result

        def batch_sizes_seen(self) -> list[int]:
            return list(self.batch_sizes)

    return BatchedFaces


def app(args: dict | None = None):
    """A Ray Serve application builder: `args` = {"deployment": "heavy" | "light" | "faces",
    optionally "replicas", "num_cpus", "max_ongoing_requests", "warm"}. Ray Serve's config
    files (and KubeRay's RayService) name it as `advdemo.serve.deployments:app`."""
    from ray import serve

    args = dict(args or {})
    name = args.pop("deployment", HEAVY)
    if name not in DEFAULTS:
        raise ValueError(f"unknown deployment {name!r}: one of {sorted(DEFAULTS)}")
    options = {**DEFAULTS[name], **{k: v for k, v in args.items() if k != "warm"}}
    cls = _batched_faces() if name == FACES else EndpointReplica
    deployment = serve.deployment(
        cls,
        name=name,
        num_replicas=int(options["replicas"]),
        max_ongoing_requests=int(options["max_ongoing_requests"]),
        ray_actor_options={"num_cpus": float(options["num_cpus"])},
    )
    return deployment.bind(name, bool(args.get("warm", True)))
