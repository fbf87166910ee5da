"""The front end's side of the Ray Serve backend: connect, deploy, and call endpoints through
deployment handles.

`from_environment()` gives None unless $ADVDEMO_RAY_ADDRESS is set; then app.main puts the
backend on the model store (`store.remote`) and `ui.bind` sends every endpoint listed in
advdemo.serve.routes.ROUTES to its deployment instead of running it here. Nothing else
changes: the tabs, their events and the library functions are the same either way.

    ADVDEMO_RAY_ADDRESS=local  python app.py     # start Ray on this machine (its cores)
    ADVDEMO_RAY_ADDRESS=auto   python app.py     # join the Ray cluster this machine is in
    ADVDEMO_RAY_ADDRESS=ray://head:10001 python app.py   # a remote cluster, by Ray Client

$ADVDEMO_RAY_REPLICAS sets replicas per deployment ("heavy=4,light=2,faces=1"); with
$ADVDEMO_RAY_DEPLOY=0 the front end only looks the deployments up (they were deployed by
`serve deploy` or KubeRay, see README).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from advdemo.core.errors import ModelUnavailable
from advdemo.serve import deployments
from advdemo.serve.routes import ROUTES, name_of, outgoing, result_folder, unship

log = logging.getLogger("advdemo.serve")

ENV_ADDRESS = "ADVDEMO_RAY_ADDRESS"
ENV_REPLICAS = "ADVDEMO_RAY_REPLICAS"
ENV_DEPLOY = "ADVDEMO_RAY_DEPLOY"
UNREACHABLE = (
    "The model server (Ray Serve) did not answer this request ({kind}). It may be starting "
    "or restarting a replica; try again in a moment."
)


def parse_replicas(text: str) -> dict[str, int]:
    """ "heavy=4,faces=2" -> {"heavy": 4, "faces": 2}; ValueError on anything else."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, count = part.partition("=")
        if name.strip() not in deployments.DEFAULTS or not count.strip().isdigit():
            names = ", ".join(deployments.DEFAULTS)
            raise ValueError(f"{ENV_REPLICAS}: expected name=count, names: {names}")
        out[name.strip()] = max(1, int(count))
    return out


class RayBackend:
    """Deployment handles by deployment name; routes endpoint functions to them."""

    def __init__(self, handles: dict[str, Any]) -> None:
        self.handles = handles

    def __repr__(self) -> str:
        return f"RayBackend({sorted(self.handles)})"

    # ------------------------------------------------------------------ set-up

    @classmethod
    def connect(
        cls,
        address: str,
        *,
        replicas: dict[str, int] | None = None,
        deploy: bool = True,
        num_cpus: int | None = None,
        warm: bool = True,
    ) -> RayBackend:
        """Join (or, for "local", start) Ray at `address`, deploy the three applications
        unless `deploy` is False, and return the backend holding their handles."""
        import ray
        from ray import serve

        if not ray.is_initialized():
            if address == "local":
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        serve.start(proxy_location="Disabled")  # handles only: Gradio is the one front door
        names = list(deployments.DEFAULTS)
        if deploy:  # all three at once: their replicas start side by side
            targets = []
            for name in names:
                args = {"deployment": name, "warm": warm}
                if replicas and name in replicas:
                    args["replicas"] = replicas[name]
                app_name = deployments.APP_PREFIX + name
                targets.append(
                    serve.RunTarget(deployments.app(args), name=app_name, route_prefix=None)
                )
            handles = dict(zip(names, serve.run_many(targets), strict=True))
        else:
            handles = {
                name: serve.get_deployment_handle(name, app_name=deployments.APP_PREFIX + name)
                for name in names
            }
        log.info("Ray Serve backend at %s: %s", address, sorted(handles))
        return cls(handles)

    def close(self) -> None:
        """Delete the applications this front end deployed and leave Ray."""
        import ray
        from ray import serve

        for name in self.handles:
            serve.delete(deployments.APP_PREFIX + name)
        ray.shutdown()

    # ------------------------------------------------------------------ calls

    def serves(self, fn: Callable[..., Any]) -> bool:
        return ROUTES.get(name_of(fn)) in self.handles

    def _handle(self, fn: Callable[..., Any]):
        name = name_of(fn)
        return name, self.handles[ROUTES[name]]

    def call(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """fn(replica's store, *args, **kwargs) on its deployment; its result, files here."""
        name, handle = self._handle(fn)
        args, kwargs = outgoing(args, kwargs)
        with _plain_errors():
            result = handle.call.remote(name, args, kwargs).result()
        return unship(result, result_folder())

    def stream(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Iterator[Any]:
        """What generator endpoint fn yields on its deployment, item by item as it comes."""
        name, handle = self._handle(fn)
        args, kwargs = outgoing(args, kwargs)
        with _plain_errors():
            for item in handle.options(stream=True).stream.remote(name, args, kwargs):
                yield unship(item, result_folder())

    def batch_sizes(self) -> list[int]:
        """The sizes of the face batches the faces replica ran (one replica's view)."""
        return self.handles[deployments.FACES].batch_sizes_seen.remote().result()


class _plain_errors:
    """An endpoint's own error (InputError, ModelUnavailable, gr.Error) raised as itself, not
    wrapped in Ray's task error (whose text is a remote traceback); Ray's own failures as
    ModelUnavailable with a plain message."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None:
            return False
        from ray import exceptions

        if isinstance(exc, exceptions.RayTaskError):
            cause = exc.cause
            if isinstance(cause, Exception) and not isinstance(cause, exceptions.RayError):
                raise cause from None
        if isinstance(exc, exceptions.RayError):
            log.warning("Ray Serve call failed: %s", exc)
            raise ModelUnavailable(UNREACHABLE.format(kind=type(exc).__name__)) from exc
        return False


def from_environment() -> RayBackend | None:
    """The Ray backend if $ADVDEMO_RAY_ADDRESS is set, else None (embedded: today's path)."""
    address = os.environ.get(ENV_ADDRESS, "").strip()
    if not address:
        return None
    replicas = parse_replicas(os.environ.get(ENV_REPLICAS, ""))
    deploy = os.environ.get(ENV_DEPLOY, "1") != "0"
    return RayBackend.connect(address, replicas=replicas, deploy=deploy)
