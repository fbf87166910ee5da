"""The runtime the models share: which device, what precision, and how work shares the CPU.

Plain functions with no state of their own beyond cached handles to system libraries: the
device is chosen by `pick_device` once, by the model store; thread priority, the per-thread
OpenMP width and glibc's heap trimming are asked for by the code that runs a job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import threading
from functools import cache
from pathlib import Path

import torch

log = logging.getLogger("advdemo.models")

ENV_DEVICE = "ADVDEMO_DEVICE"
BACKGROUND_NICENESS = 15  # heavy jobs and background compilation yield the cores to sliders


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


def forward_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast for forward-only paths: fp16 on CUDA, bf16 on MPS, plain fp32 on CPU.

    On CPU, bf16 is only a win with compiled kernels (and only on CPUs with native bf16);
    the model store's `compiled()` decides that.
    """
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    if device.type == "mps":
        return torch.autocast("mps", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def can_compile() -> bool:
    """Whether torch.compile can build kernels here: its C++ backend needs a compiler, which a
    machine with only Python and pip may lack (the app then stays eager, which is correct)."""
    return any(shutil.which(name) for name in ("g++", "c++", "clang++"))


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
    Where torch's OpenMP runtime cannot be found this does nothing (and on a GPU the CPU's
    thread count does not matter).
    """
    omp = _openmp_runtime()
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
