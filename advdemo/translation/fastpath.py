"""CycleGAN's compiled fast path: a generator's compiled forward (fp32 or bf16, as the model
store's plan for this CPU chose), served per input shape once checked against eager (no Gradio).

A `FastPath` belongs to one loaded generator (the tab keeps one per model store through
`store.derived`, so its state lives exactly as long as the store's models). A user's request
never pays for compilation: `generate` asks `ready(shape)` and runs eager for every shape not
checked yet. Compiling takes seconds to minutes per shape, so `warm_in_background` does it in
a low-priority thread of its own, and only where the set-up's calibration measured the
compiled forward to win on this CPU (advdemo.models.calibration): where it did not, or where
nothing was calibrated, the compile callable gives None and nothing is compiled. Whether it
pays is never judged from a timing taken here, under the start-up's load.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from advdemo.core import images
from advdemo.models import runtime
from advdemo.models.wrappers import Translator
from advdemo.translation.cyclegan import EXAMPLES, working_size

log = logging.getLogger("advdemo.cyclegan")

Shape = tuple[int, int]  # (H, W)
Forward = Callable[[Tensor], Tensor]

# The compiled bf16 path must stay this close to eager fp32 (max |Δ| on [0, 1] pixels) for a
# shape to be served compiled. Measured: max 0.007-0.011, mean 0.001 (see tests and benchmark).
FAST_TOLERANCE = 0.03


def canonical_shapes(long_sides: Sequence[int] = (256, 512)) -> tuple[Shape, ...]:
    """(H, W) the example photos get at the given resolutions: the shapes worth compiling.

    The three landscape examples (451×300, 600×400, 640×427) all land on 172×256, the square
    one on 256²; at 512 the photos are not upscaled, so the cat stays at its own 300×448 while
    the others take 340×512 and 512²: five compiled shapes cover every preset at 256 and 512.
    """
    shapes = []
    for side in long_sides:
        for name in EXAMPLES:
            with Image.open(images.asset(name)) as im:
                w, h = working_size(*im.size, side)
            if (h, w) not in shapes:
                shapes.append((h, w))
    return tuple(shapes)


def check_image(shape: Shape) -> Tensor:
    """A real photo squeezed to `shape`, for checking the compiled path against eager."""
    photo = images.to_tensor(images.load_image(images.asset(EXAMPLES[0])))
    return F.interpolate(photo, size=shape, mode="bilinear", antialias=True, align_corners=False)


class FastPath:
    """The compiled forward of `translator`, and the shapes it may serve; thread-safe.

    Args:
        translator: the eager generator, the reference every compiled shape is checked against.
        compile: makes the compiled forward ((1, 3, H, W) in [0, 1] -> fp32 on CPU), or
            returns None where this machine should stay eager, e.g.
            `lambda: store.fast_forward(name)`; called once, at the first warm().
        name: the model's registry name, for the log.
    """

    def __init__(
        self, translator: Translator, compile: Callable[[], Forward], name: str = ""
    ) -> None:
        self.translator = translator
        self.name = name
        self._compile = compile
        self._forward: Forward | None = None
        self._compile_asked = False
        self._ready: set[Shape] = set()
        self._lock = threading.Lock()  # guards _ready and _thread; held for microseconds
        self._compile_lock = threading.Lock()  # torch.compile's set-up takes seconds
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"FastPath({self.name!r}, ready={self.ready_shapes()})"

    def ready(self, shape: Shape) -> bool:
        """Whether `shape` is served compiled (checked against eager and measured faster)."""
        with self._lock:
            return shape in self._ready

    def ready_shapes(self) -> list[Shape]:
        with self._lock:
            return sorted(self._ready)

    def __call__(self, x: Tensor) -> Tensor:
        """G(x) by the compiled forward, in [0, 1] on CPU; only for a shape that is ready()."""
        shape = (x.shape[-2], x.shape[-1])
        if not self.ready(shape) or self._forward is None:
            raise RuntimeError(f"the fast path of {self.name} is not ready for {shape}")
        return self._forward(x).clamp(0, 1)

    def _compiled(self) -> Forward | None:
        with self._compile_lock:
            if not self._compile_asked:
                self._forward = self._compile()
                self._compile_asked = True
            return self._forward

    def warm(
        self,
        shapes: Sequence[Shape] | None = None,
        *,
        tolerance: float = FAST_TOLERANCE,
        require_faster: bool = False,
    ) -> dict[Shape, dict[str, float]]:
        """Compile for each shape (seconds to minutes each; meant for the background warm-up),
        check it against eager fp32, and serve that shape compiled from then on if the output
        is within `tolerance` (and, if `require_faster`, it ran faster than eager this once: a
        single timing, so off by default; the calibration decided that). Nothing happens when
        the compile callable gives None (this machine stays eager). Returns what it measured."""
        fast = self._compiled()
        reports: dict[Shape, dict[str, float]] = {}
        if fast is None:
            log.info("cyclegan fast path %s: the plan for this CPU is eager", self.name)
            return reports
        for shape in shapes if shapes is not None else canonical_shapes():
            if self.ready(shape):
                continue
            x = check_image(shape)
            t0 = time.perf_counter()
            y_fast = fast(x).clamp(0, 1)  # compiles for this shape
            compile_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            y_fast = fast(x).clamp(0, 1)
            fast_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            y_eager = self.translator.translate(x)
            eager_s = time.perf_counter() - t0
            diff = float((y_fast - y_eager).abs().max())
            ok = diff <= tolerance and (fast_s < eager_s or not require_faster)
            reports[shape] = {
                "compile_s": compile_s,
                "fast_s": fast_s,
                "eager_s": eager_s,
                "max_abs_diff": diff,
                "ready": float(ok),
            }
            if ok:
                with self._lock:
                    self._ready.add(shape)
            log.info(
                "cyclegan fast path %s %s: compile %.1fs, %.3fs vs eager %.3fs, max|Δ| %.4f -> %s",
                self.name,
                shape,
                compile_s,
                fast_s,
                eager_s,
                diff,
                "serving compiled" if ok else "staying eager",
            )
        return reports

    def warm_in_background(
        self, shapes: Sequence[Shape] | None = None, *, require_faster: bool = False
    ) -> threading.Thread:
        """warm(shapes) in a daemon thread of its own (about 15-25 s per shape here), so the
        other tabs' warm-up, which takes seconds, does not wait minutes behind it. Started
        once: a call while it runs returns the running thread."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._warm_quietly,
                    args=(shapes, require_faster),
                    name="advdemo-cyclegan-compile",
                    daemon=True,
                )
                self._thread.start()
            return self._thread

    def _warm_quietly(self, shapes: Sequence[Shape] | None, require_faster: bool) -> None:
        # Compiling takes both cores for 20-70 s after start; students who open the app
        # meanwhile must not feel it (profiled under the load test: the compile thread took a
        # third of the CPU samples while sliders waited).
        if not runtime.can_compile():
            log.info("no C++ compiler on this machine: CycleGAN stays eager (correct, slower)")
            return
        runtime.lower_thread_priority(runtime.BACKGROUND_NICENESS)
        try:
            self.warm(shapes, require_faster=require_faster)
        except Exception:  # an optimisation only: requests keep running eager
            log.exception("compiling the CycleGAN fast path failed; serving eager")
