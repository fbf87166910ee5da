"""Fast paths chosen by what this CPU can do: its capabilities, and a calibration measured once
at set-up and kept on disk.

Whether a model runs compiled, in bf16 or channels_last depends on the machine: on an AMD Zen 4
compiled bf16 CycleGAN was 2.6× eager fp32; on an Intel Xeon with AVX-512 but no native bf16 it
was 3× *slower* (bf16 emulated), and compiling cost 30-58 s of CPU per shape at every start
before the app measured that and threw it away. So:

- `detect()` reads the CPU (model name, ISA flags from /proc/cpuinfo, torch's
  `get_cpu_capability()`, whether a C++ compiler exists) and `candidates` lists the variants
  worth trying: eager, eager channels_last, compiled fp32 where torch.compile can build
  vectorised kernels, compiled bf16 only where bf16 is native (AVX-512 BF16 / AMX / Arm BF16).
- `calibrate` times them, interleaved, several rounds, wall and CPU time, once, at set-up
  (`python -m advdemo.models.calibration`, which `bootstrap.py app` runs), and `save` keeps
  the figures in a JSON file keyed by CPU model + flags + torch version.
- `decide` picks a model's variant from those figures: the fastest that is as accurate as
  eager and faster by a clear margin in both wall and CPU time; eager when there are no
  figures for this CPU and torch (missing, corrupt or another machine's file), so the app
  never compiles at start-up on a guess and never decides from one timing under start-up load.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advdemo.core import images
from advdemo.models import checkpoints, fastpaths, registry, runtime

log = logging.getLogger("advdemo.models")

ENV_PATH = "ADVDEMO_CALIBRATION"  # where the figures are kept (default: beside the checkpoints)
FILE_NAME = "calibration.json"
FORMAT = 1
# The ISA flags that decide which kernels torch can use (x86 /proc/cpuinfo "flags", Arm
# "Features"); the others (aes, sse, ...) do not change a decision and stay out of the key.
RELEVANT_FLAGS = frozenset(
    {
        "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
        "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8",
        "asimd", "sve", "sve2", "bf16", "i8mm",
    }
)  # fmt: skip
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})  # "bf16": Arm's BFloat16
MARGIN = 1.10  # a variant must beat eager by ≥ 10 % (wall and CPU) to be chosen
FP32_TOLERANCE = 1e-3  # max |Δ| on [0, 1] pixels for fp32 variants (float rounding only)
BF16_TOLERANCE = 0.03  # for bf16 (measured 0.007-0.011 on the built-in CycleGAN)
# Figures taken while other processes held the cores mostly measure the queue for them: the
# eager forward's median wall time over its CPU time per thread. Above this, the record is
# not trusted (eager, and the set-up says to measure again on a quieter machine).
MAX_CONTENTION = 2.0
SHAPES = {"translator": (172, 256)}  # the three landscape examples at 256 px
FACE_BATCH = 16  # a truncation grid's batch of faces


@dataclass(frozen=True)
class Capabilities:
    """What the CPU and torch offer; `key` names a calibration that is valid for them."""

    cpu_model: str
    flags: frozenset[str]
    torch_version: str
    isa: str  # torch.backends.cpu.get_cpu_capability(): "AVX512", "AVX2", "DEFAULT", ...
    compiler: bool  # torch.compile's C++ backend can build kernels here

    @property
    def native_bf16(self) -> bool:
        return bool(self.flags & NATIVE_BF16_FLAGS)

    @property
    def amx(self) -> bool:
        return {"amx_tile", "amx_bf16"} <= self.flags

    @property
    def can_compile(self) -> bool:
        """Vectorised compiled kernels: a compiler, and an ISA beyond the scalar default."""
        return self.compiler and self.isa.upper() not in ("DEFAULT", "NO AVX", "")

    @property
    def key(self) -> str:
        flags = ",".join(sorted(self.flags))
        return f"{self.cpu_model} | {flags} | {self.isa} | torch {self.torch_version}"

    def describe(self) -> str:
        bf16 = "AMX + native bf16" if self.amx else "native bf16" if self.native_bf16 else "no bf16"
        return f"{self.cpu_model} ({self.isa}, {bf16}), torch {self.torch_version}"


def read_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """(model name, relevant flags) from /proc/cpuinfo's text (x86 or Arm)."""
    model, flags = "", set()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name in ("model name", "cpu model", "hardware") and not model:
            model = value.strip()
        elif name in ("flags", "features") and not flags:
            flags = set(value.split())
    return model, frozenset(flags & RELEVANT_FLAGS)


@cache
def detect() -> Capabilities:
    """This machine's capabilities (read once per process)."""
    try:
        model, flags = read_cpuinfo(Path("/proc/cpuinfo").read_text())
    except OSError:
        model, flags = "", frozenset()
    try:
        isa = torch.backends.cpu.get_cpu_capability()
    except Exception:  # very old or exotic builds
        isa = "DEFAULT"
    return Capabilities(
        cpu_model=model or platform.processor() or platform.machine() or "unknown CPU",
        flags=flags,
        torch_version=torch.__version__,
        isa=isa,
        compiler=runtime.can_compile(),
    )


# ------------------------------------------------------------------------------ variants


@dataclass(frozen=True)
class Variant:
    compiled: bool = False
    bf16: bool = False
    channels_last: bool = False

    @property
    def name(self) -> str:
        how = "compiled" if self.compiled else "eager"
        cl = " channels_last" if self.channels_last else ""
        return f"{how} {'bf16' if self.bf16 else 'fp32'}{cl}"

    @property
    def tolerance(self) -> float:
        return BF16_TOLERANCE if self.bf16 else FP32_TOLERANCE


EAGER = Variant()
EAGER_CL = Variant(channels_last=True)
COMPILED_FP32 = Variant(compiled=True)
COMPILED_BF16 = Variant(compiled=True, bf16=True)
VARIANTS = {v.name: v for v in (EAGER, EAGER_CL, COMPILED_FP32, COMPILED_BF16)}
COMPILABLE = frozenset({"translator"})  # forward-only, large: where a compile can pay


def candidates(caps: Capabilities, task: str) -> list[Variant]:
    """The variants worth measuring for a model of `task` on a CPU with `caps`."""
    out = [EAGER, EAGER_CL]
    if task in COMPILABLE and caps.can_compile:
        out.append(COMPILED_FP32)  # tried everywhere: it needs no bf16
        if caps.native_bf16:  # emulated bf16 was 3× slower than eager: never tried
            out.append(COMPILED_BF16)
    return out


@dataclass(frozen=True)
class Plan:
    """How model `model` runs on this machine, and why."""

    model: str
    variant: Variant = EAGER
    reason: str = "no calibration for this CPU and torch"
    figures: dict = field(default_factory=dict, compare=False)


def decide(caps: Capabilities, model: str, task: str, record: dict | None) -> Plan:
    """The variant for `model` from its calibration `record` (None: not calibrated here).

    A variant qualifies when it is a candidate on `caps`, was measured, stayed within its
    tolerance of eager, and beat eager by MARGIN in both median wall and median CPU time; the
    fastest qualifying variant wins, else eager. Malformed records count as none."""
    if not isinstance(record, dict):
        return Plan(model)
    try:
        base = record[EAGER.name]
        base_ms, base_cpu = float(base["ms"]), float(base["cpu_ms"])
        contention = float(record.get("contention", 1.0))
        if not contention <= MAX_CONTENTION:
            why = f"measured on a busy machine (wall {contention:.1f}× CPU time): eager"
            return Plan(model, EAGER, why + "; recalibrate with --force when it is quiet")
        best, best_ms = EAGER, base_ms
        for variant in candidates(caps, task):
            got = record.get(variant.name)
            if variant == EAGER or not isinstance(got, dict):
                continue
            ms, cpu, diff = float(got["ms"]), float(got["cpu_ms"]), float(got["max_abs_diff"])
            if not diff <= variant.tolerance:  # also refuses NaN
                continue
            if ms * MARGIN <= base_ms and cpu * MARGIN <= base_cpu and ms < best_ms:
                best, best_ms = variant, ms
    except (KeyError, TypeError, ValueError):
        return Plan(model, reason="calibration record unreadable: eager")
    if best == EAGER:
        return Plan(model, EAGER, f"nothing beat eager by {MARGIN:.2f}× here", record)
    reason = f"{best.name} {best_ms:.0f} ms vs eager {base_ms:.0f} ms (calibrated)"
    return Plan(model, best, reason, record)


# ------------------------------------------------------------------------------ the file


def default_path(checkpoint_dir: Path) -> Path:
    return Path(os.environ.get(ENV_PATH) or Path(checkpoint_dir) / FILE_NAME)


def read_file(path: Path) -> dict:
    """The file's entries by key ({} when missing, unreadable or not ours: never raises)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring the calibration file %s (%s): models run eager", path, exc)
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        log.warning("ignoring the calibration file %s (not format %s)", path, FORMAT)
        return {}
    entries = data.get("entries")
    if not isinstance(entries, dict):
        log.warning("ignoring the calibration file %s (not format %s)", path, FORMAT)
        return {}
    return entries


def load(path: Path, caps: Capabilities) -> dict | None:
    """This CPU's and torch's entry in `path` (its "models" by name), or None."""
    entry = read_file(path).get(caps.key)
    models = entry.get("models") if isinstance(entry, dict) else None
    return models if isinstance(models, dict) else None


def save(path: Path, caps: Capabilities, models: dict, note: dict | None = None) -> None:
    """Add (or replace) this CPU's entry, keeping other machines' (a shared folder)."""
    path = Path(path)
    entries = read_file(path)
    entries[caps.key] = {
        "cpu": caps.describe(),
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(note or {}),
        "models": models,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"format": FORMAT, "entries": entries}, indent=1))
    partial.replace(path)


def plan_for(name: str, device: torch.device, path: Path, caps: Capabilities | None = None) -> Plan:
    """The plan of model `name` on `device` (the model store asks, once per model)."""
    task = registry.spec(name).task
    if device.type != "cpu":  # GPUs: bf16/fp16 are native; compile forward-only models
        compiled = task in COMPILABLE
        variant = Variant(compiled=compiled, bf16=compiled, channels_last=task != "face-generator")
        return Plan(name, variant, f"{device.type}: no CPU calibration needed")
    caps = caps or detect()
    models = load(path, caps)
    if models is None:
        return Plan(name, reason=f"no calibration for {caps.describe()} in {path}")
    return decide(caps, name, task, models.get(name))


# ------------------------------------------------------------------------------ measuring


def _photo(shape: tuple[int, int]) -> Tensor:
    x = images.to_tensor(images.load_image(images.asset("astronaut.jpg")))
    return F.interpolate(x, size=shape, mode="bilinear", antialias=True, align_corners=False)


def _workload(model: nn.Module, task: str) -> tuple[Tensor, Callable[[nn.Module], Tensor]]:
    """An input like the app's and the forward the app runs for a model of `task`."""
    if task == "translator":
        return _photo(SHAPES["translator"]), lambda m: m.translate
    if task == "classifier":
        return _photo((model.input_size, model.input_size)), lambda m: m.probabilities
    z = model.sample_z(0, FACE_BATCH)
    return z, lambda m: m.generate


def _forwards(
    model: nn.Module, task: str, variants: Iterable[Variant], device: torch.device
) -> dict[Variant, Callable[[Tensor], Tensor]]:
    _, forward_of = _workload(model, task)
    out = {}
    for v in variants:
        if v.compiled:
            compiled = fastpaths.compile_forward(model, device, bf16=v.bf16)
            out[v] = lambda x, c=compiled: c(x).clamp(0, 1)
        elif v.channels_last:
            out[v] = forward_of(copy.deepcopy(model).to(memory_format=torch.channels_last))
        else:
            out[v] = forward_of(model)
    return out


def time_interleaved(forwards: dict, x: Tensor, rounds: int) -> tuple[dict, dict, dict]:
    """Median wall ms, median CPU ms / threads, and the outputs, variants round-robin (drift
    and other processes hit all alike). The first call of each (a compile) is not timed."""
    outputs = {v: fn(x) for v, fn in forwards.items()}
    wall: dict = {v: [] for v in forwards}
    cpu: dict = {v: [] for v in forwards}
    threads = torch.get_num_threads()
    for _ in range(rounds):
        for v, fn in forwards.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn(x)
            cpu[v].append((time.process_time() - c0) / threads * 1000)
            wall[v].append((time.perf_counter() - w0) * 1000)
    return (
        {v: statistics.median(t) for v, t in wall.items()},
        {v: statistics.median(t) for v, t in cpu.items()},
        outputs,
    )


def calibrate_model(
    model: nn.Module, task: str, device: torch.device, caps: Capabilities, rounds: int = 7
) -> dict:
    """Measure every candidate variant of `model` against eager; the record `decide` reads."""
    variants = candidates(caps, task)
    x, _ = _workload(model, task)
    t0 = time.perf_counter()
    forwards = _forwards(model, task, variants, device)
    wall, cpu, outputs = time_interleaved(forwards, x, rounds)
    reference = outputs[EAGER]
    record = {}
    for v in variants:
        diff = float((outputs[v].float() - reference.float()).abs().max())
        record[v.name] = {"ms": wall[v], "cpu_ms": cpu[v], "max_abs_diff": diff}
    record["contention"] = wall[EAGER] / max(cpu[EAGER], 1e-9)
    record["input"] = list(x.shape)
    record["seconds"] = time.perf_counter() - t0
    return record


def calibrate(store, names: Iterable[str], caps: Capabilities, rounds: int = 7) -> dict:
    """Records for models `names` of `store` (a ModelStore on the CPU), by name."""
    out = {}
    for name in names:
        task = registry.spec(name).task
        record = calibrate_model(store.get(name), task, store.device, caps, rounds)
        plan = decide(caps, name, task, record)
        log.info("calibrated %s in %.0f s: %s", name, record["seconds"], plan.reason)
        out[name] = record
    return out


def main(argv: list[str] | None = None) -> int:
    from advdemo.models.store import ModelStore

    parser = argparse.ArgumentParser(description="Calibrate the fast paths on this CPU (once).")
    parser.add_argument("--force", action="store_true", help="measure again even if calibrated")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per model")
    parser.add_argument("--path", type=Path, help=f"the file (default: ${ENV_PATH} or beside "
                        "the checkpoints)")  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = args.path or default_path(checkpoints.CHECKPOINT_DIR)
    caps = detect()
    names = registry.names(builtin_only=True)
    if not args.force and load(path, caps) is not None:
        print(f"already calibrated for {caps.describe()} ({path}); --force measures again")
        return 0
    # a store that reads no earlier figures: every model is measured from its plain form
    empty = Path(tempfile.gettempdir()) / f"advdemo-no-figures-{os.getpid()}.json"  # not made
    store = ModelStore(device="cpu", calibration_file=empty)
    load_before = os.getloadavg()[0]
    if load_before > (os.cpu_count() or 1):
        print(f"warning: load average {load_before:.1f} on {os.cpu_count()} cores: figures "
              "taken now may be judged too noisy to use (the models then stay eager)")  # fmt: skip
    print(f"calibrating the fast paths on {caps.describe()}, load average {load_before:.1f}; "
          "compiling takes a minute or two ...", flush=True)  # fmt: skip
    models = calibrate(store, names, caps, args.rounds)
    save(path, caps, models, {"load_average": load_before, "threads": torch.get_num_threads()})
    for name in names:
        print(f"  {name}: {decide(caps, name, registry.spec(name).task, models[name]).reason}")
    print(f"saved to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
