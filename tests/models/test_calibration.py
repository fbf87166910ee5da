"""advdemo.models.calibration: the fast path a model gets from the CPU's capabilities and the
set-up's measurements, and that the app's start-up compiles nothing the measurements reject."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from advdemo.models import calibration as cal
from advdemo.models import fastpaths
from advdemo.models.store import ModelStore

INTEL_NO_BF16 = cal.Capabilities(
    "Intel(R) Xeon(R) Gold 6338",
    frozenset({"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni"}),
    "2.15.0",
    "AVX512",
    compiler=True,
)
SAPPHIRE_RAPIDS = dataclasses.replace(
    INTEL_NO_BF16,
    cpu_model="Intel(R) Xeon(R) Platinum 8480+",
    flags=INTEL_NO_BF16.flags | {"avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"},
)
ZEN4 = cal.Capabilities(
    "AMD EPYC 9R14", frozenset({"avx2", "fma", "avx512f", "avx512_bf16"}), "2.15.0", "AVX512", True
)
GRAVITON3 = cal.Capabilities(
    "", frozenset({"asimd", "sve", "bf16", "i8mm"}), "2.15.0", "SVE256", compiler=True
)
NO_COMPILER = dataclasses.replace(SAPPHIRE_RAPIDS, compiler=False)
OLD_CPU = cal.Capabilities("Intel Core 2", frozenset(), "2.15.0", "DEFAULT", compiler=True)


def figures(**variants) -> dict:
    """A record: variant name -> (wall ms, CPU ms, max |Δ|); eager is 1000 ms."""
    record = {"eager fp32": {"ms": 1000.0, "cpu_ms": 1000.0, "max_abs_diff": 0.0}}
    for key, (ms, cpu, diff) in variants.items():
        record[key.replace("_", " ", 2)] = {"ms": ms, "cpu_ms": cpu, "max_abs_diff": diff}
    return record


# What was measured: compiled bf16 3.1 s vs eager 1.0 s on the Intel without native bf16;
# 2.6× faster on the Zen 4; a compiled fp32 that wins a little.
LOSING_BF16 = figures(compiled_bf16=(3100, 3000, 0.01), compiled_fp32=(1050, 1040, 1e-5))
WINNING_BF16 = figures(compiled_bf16=(380, 390, 0.008), compiled_fp32=(800, 790, 2e-5))


def test_cpuinfo_is_read_on_x86_and_arm():
    x86 = "processor : 0\nmodel name : Intel Xeon\nflags : fpu sse avx2 avx512_bf16 amx_tile\n"
    model, flags = cal.read_cpuinfo(x86)
    assert model == "Intel Xeon" and flags == {"avx2", "avx512_bf16", "amx_tile"}
    _, arm = cal.read_cpuinfo("processor : 0\nFeatures : fp asimd sve bf16 i8mm\n")
    assert arm == {"asimd", "sve", "bf16", "i8mm"}


def test_this_machine_is_detected_and_keyed_by_cpu_flags_and_torch():
    caps = cal.detect()
    assert caps.torch_version == torch.__version__ and caps.isa
    assert caps.cpu_model in caps.key and f"torch {torch.__version__}" in caps.key
    assert dataclasses.replace(caps, torch_version="0.0").key != caps.key
    assert dataclasses.replace(caps, flags=caps.flags ^ {"amx_bf16"}).key != caps.key


@pytest.mark.parametrize(
    ("caps", "expected"),
    [
        (INTEL_NO_BF16, ["eager fp32", "eager fp32 channels_last", "compiled fp32"]),
        (
            SAPPHIRE_RAPIDS,
            ["eager fp32", "eager fp32 channels_last", "compiled fp32", "compiled bf16"],
        ),
        (GRAVITON3, ["eager fp32", "eager fp32 channels_last", "compiled fp32", "compiled bf16"]),
        (NO_COMPILER, ["eager fp32", "eager fp32 channels_last"]),
        (OLD_CPU, ["eager fp32", "eager fp32 channels_last"]),
    ],
)
def test_candidates_follow_the_cpu(caps, expected):
    assert [v.name for v in cal.candidates(caps, "translator")] == expected
    # attacks and classification run forward + backward or tiny: never compiled
    assert not any(v.compiled for v in cal.candidates(caps, "classifier"))


def test_compiled_bf16_is_chosen_only_where_bf16_is_native_and_it_was_measured_faster():
    assert cal.decide(ZEN4, "g", "translator", WINNING_BF16).variant == cal.COMPILED_BF16
    assert cal.decide(SAPPHIRE_RAPIDS, "g", "translator", WINNING_BF16).variant.bf16
    # the same figures on a CPU without native bf16 (a forged or copied file): fp32 compiled
    plan = cal.decide(INTEL_NO_BF16, "g", "translator", WINNING_BF16)
    assert plan.variant == cal.COMPILED_FP32 and "800 ms" in plan.reason
    # without a compiler nothing compiled is ever chosen
    assert not cal.decide(NO_COMPILER, "g", "translator", WINNING_BF16).variant.compiled


def test_a_compile_measured_to_lose_or_win_too_little_is_not_chosen():
    assert cal.decide(INTEL_NO_BF16, "g", "translator", LOSING_BF16).variant == cal.EAGER
    assert cal.decide(SAPPHIRE_RAPIDS, "g", "translator", LOSING_BF16).variant == cal.EAGER
    faster_wall_only = figures(compiled_fp32=(600, 1200, 1e-5))  # spinning threads: no win
    assert cal.decide(INTEL_NO_BF16, "g", "translator", faster_wall_only).variant == cal.EAGER


def test_a_variant_that_drifts_from_eager_is_never_chosen():
    drifting = figures(compiled_bf16=(300, 300, 0.2), compiled_fp32=(700, 700, math.nan))
    assert cal.decide(SAPPHIRE_RAPIDS, "g", "translator", drifting).variant == cal.EAGER
    cl = figures(eager_fp32_channels_last=(700, 690, 1e-6))
    assert cal.decide(OLD_CPU, "c", "classifier", cl).variant == cal.EAGER_CL


def test_figures_taken_on_a_busy_machine_are_not_trusted():
    busy = {**WINNING_BF16, "contention": 12.8}  # wall 12.8× CPU: the queue, not the work
    plan = cal.decide(ZEN4, "g", "translator", busy)
    assert plan.variant == cal.EAGER and "recalibrate" in plan.reason
    quiet = {**WINNING_BF16, "contention": 1.05}
    assert cal.decide(ZEN4, "g", "translator", quiet).variant == cal.COMPILED_BF16


@pytest.mark.parametrize(
    "record",
    [None, {}, "junk", {"eager fp32": {"ms": "fast"}}, {"eager fp32": None}, [1, 2]],
)
def test_missing_or_malformed_figures_mean_eager(record):
    assert cal.decide(SAPPHIRE_RAPIDS, "g", "translator", record).variant == cal.EAGER


def test_the_file_keeps_other_machines_and_is_read_only_for_its_own_key(tmp_path):
    path = tmp_path / "cal.json"
    cal.save(path, ZEN4, {"g": WINNING_BF16})
    cal.save(path, INTEL_NO_BF16, {"g": LOSING_BF16})
    assert cal.load(path, ZEN4) == {"g": WINNING_BF16}
    assert cal.load(path, INTEL_NO_BF16) == {"g": LOSING_BF16}
    assert cal.load(path, SAPPHIRE_RAPIDS) is None  # another CPU
    assert cal.load(path, dataclasses.replace(ZEN4, torch_version="2.16.0")) is None


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "",
        "[]",
        '{"format": 99, "entries": {}}',
        '{"format": 1, "entries": 3}',
        '{"format": 1, "entries": {"K": 5}}',
        "\x00\xff",
    ],
)
def test_a_corrupt_or_foreign_file_means_eager_and_never_raises(tmp_path, content):
    path = tmp_path / "cal.json"
    path.write_text(content)
    assert cal.load(path, ZEN4) is None
    plan = cal.plan_for("cyclegan-photo2vintage", torch.device("cpu"), path, ZEN4)
    assert plan.variant == cal.EAGER
    cal.save(path, ZEN4, {"g": WINNING_BF16})  # recalibrating replaces it
    assert cal.load(path, ZEN4) == {"g": WINNING_BF16}


def _store_with(tmp_path, models: dict | None, caps=None) -> ModelStore:
    path = tmp_path / "calibration.json"
    if models is not None:
        cal.save(path, caps or cal.detect(), models)
    return ModelStore("cpu", calibration_file=path)


def test_the_store_compiles_in_the_precision_the_calibration_chose(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(fastpaths, "compile_forward", lambda m, d, *, bf16: asked.append(bf16))
    name = "cyclegan-photo2vintage"
    caps = dataclasses.replace(cal.detect(), compiler=True, isa="AVX512")
    monkeypatch.setattr(cal, "detect", lambda: caps)
    store = _store_with(tmp_path, {name: WINNING_BF16})
    store.fast_forward(name)
    assert asked == [caps.native_bf16]  # bf16 where native, fp32 compiled elsewhere
    assert store.plan(name).variant.compiled


@pytest.mark.parametrize("case", ["losing", "missing", "corrupt", "other torch"])
def test_start_up_compiles_nothing_unless_the_calibration_says_it_wins(tmp_path, monkeypatch, case):
    """The app's own start-up path (the CycleGAN tab's warm_up) with the calibration saying
    compiling loses, with none, with a damaged one and with one from another torch."""
    from advdemo.tabs import cyclegan as tab

    def must_not_compile(*args, **kwargs):
        raise AssertionError("compiled at start-up although it is known to lose")

    monkeypatch.setattr(fastpaths, "compile_forward", must_not_compile)
    name = "cyclegan-photo2vintage"
    if case == "losing":
        store = _store_with(tmp_path, {name: LOSING_BF16})
    elif case == "missing":
        store = _store_with(tmp_path, None)
    elif case == "corrupt":
        store = _store_with(tmp_path, None)
        store.calibration_path.write_text('{"format": 1, "entries": {')
    else:
        other = dataclasses.replace(cal.detect(), torch_version="1.0.0")
        store = _store_with(tmp_path, {name: WINNING_BF16}, other)
    tab.warm_up(store)
    fast = tab._fast_path(store, name)
    thread = fast._thread
    assert thread is not None
    thread.join(60)
    assert fast.ready_shapes() == [] and store.fast_forward(name) is None
    assert store.plan(name).variant == cal.EAGER


def test_calibrating_a_model_measures_each_candidate_against_eager(store):
    caps = dataclasses.replace(cal.detect(), compiler=False)  # no compile in the fast suite
    record = cal.calibrate_model(store.face_generator(), "face-generator", store.device, caps, 1)
    assert set(record) >= {"eager fp32", "eager fp32 channels_last"}
    assert record["eager fp32"]["max_abs_diff"] == 0.0 and record["contention"] > 0
    assert record["eager fp32 channels_last"]["max_abs_diff"] < 1e-4
    assert all(record[v]["ms"] > 0 and record[v]["cpu_ms"] >= 0 for v in ("eager fp32",))
    json.dumps(record)  # it goes into the file as it is
    assert cal.decide(caps, "dcgan-faces", "face-generator", record).variant.compiled is False


def test_the_set_up_step_skips_a_machine_already_calibrated(tmp_path, monkeypatch, capsys):
    path = tmp_path / "cal.json"
    cal.save(path, cal.detect(), {"dcgan-faces": figures()})
    monkeypatch.setattr(cal, "calibrate", lambda *a, **k: pytest.fail("measured again"))
    assert cal.main(["--path", str(path)]) == 0
    assert "already calibrated" in capsys.readouterr().out


def test_calibrating_again_measures_the_plain_models_not_the_last_plan(tmp_path, monkeypatch):
    """--force with figures already there: the store it measures with ignores them (else
    "eager" would be timed on a model already converted to the old plan's channels_last)."""
    path = tmp_path / "cal.json"
    cl_wins = figures(eager_fp32_channels_last=(500, 500, 0.0))
    cal.save(path, cal.detect(), {"dcgan-faces": cl_wins})
    seen = []

    def calibrate(store, names, caps, rounds):
        seen.append(store.plan("dcgan-faces").variant)
        return {name: figures() for name in names}

    monkeypatch.setattr(cal, "calibrate", calibrate)
    assert cal.main(["--path", str(path), "--force"]) == 0
    assert seen == [cal.EAGER]
    assert cal.load(path, cal.detect())["dcgan-faces"] == figures()
