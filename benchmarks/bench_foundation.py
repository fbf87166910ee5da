"""Foundation figures: cold start of the app, load time and forward latency of each built-in
model, and whether channels_last pays on this device (measured, interleaved, same process)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import torch

from benchmarks.common import Row, format_table, free_port, interleaved, median_ms

ROOT = Path(__file__).resolve().parents[1]


def cold_start() -> list[Row]:
    """Seconds from `python app.py` to the page answering HTTP 200, vs importing the stack."""
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import torch, torchvision, gradio"], check=True, cwd=ROOT
    )
    imports = time.perf_counter() - t0
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - t0 < 120:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        start = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return [
        Row(
            "cold start: python app.py → HTTP 200",
            start,
            "s",
            imports,
            "import torch+torchvision+gradio",
        )
    ]


def models() -> list[Row]:
    from advdemo.core import images
    from advdemo.models import registry
    from advdemo.models.store import ModelStore

    store = ModelStore()
    rows = []
    for name in registry.names(builtin_only=True):
        t0 = time.perf_counter()
        model = store.load(name)
        load_s = time.perf_counter() - t0
        spec = registry.spec(name)
        if spec.task == "face-generator":
            z = model.sample_z(0, 1)
            fn = {"eager": lambda m=model, z=z: m.generate(z)}
            label = "1 face 64×64"
        elif spec.task == "classifier":
            x = images.sample_batch(spec.input_size).to(store.device)
            cl = store.load(name).to(memory_format=torch.channels_last)
            fn = {
                "eager": lambda m=model, x=x: m.probabilities(x),
                "channels_last": lambda m=cl, x=x: m.probabilities(
                    x.contiguous(memory_format=torch.channels_last)
                ),
            }
            label = f"1 image {spec.input_size}²"
        else:
            x = images.sample_batch(256)
            fn = {"eager": lambda m=model, x=x: m.translate(x)}
            label = "1 image 256²"
        times = interleaved(fn, repeats=10 if spec.task == "translator" else 20)
        rows.append(Row(f"{name}: load", load_s * 1000, "ms"))
        if "channels_last" in times:
            rows.append(
                Row(
                    f"{name}: forward, {label}, channels_last",
                    median_ms(times["channels_last"]),
                    "ms",
                    median_ms(times["eager"]),
                    "contiguous",
                )
            )
        else:
            rows.append(Row(f"{name}: forward, {label}", median_ms(times["eager"]), "ms"))
    return rows


def measure() -> list[Row]:
    return cold_start() + models()


def main() -> None:
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"device {os.environ.get('ADVDEMO_DEVICE', 'auto')}"
    )
    print(format_table(measure(), "Foundation"))


if __name__ == "__main__":
    main()
