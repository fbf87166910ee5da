"""Bad input through the API, on every public endpoint: a clear answer, and the server serves on.

The endpoints and their parameters come from the running app (view_api), so an endpoint that
lands later is fuzzed without a change here; EXPECTED_PUBLIC makes sure none is skipped
silently. For each parameter, one bad value at a time with every other parameter valid (the
load test's request makers give the valid call): NaN, ±inf, huge and negative numbers, empty
and wrong-typed values, files that are not images, images too large to decode, uploads over
max_file_size. Each call must either succeed or fail with a message a user can act on: not
ui.UNEXPECTED (an exception the tab did not expect) and not Gradio's bare error without a
message (an exception outside ui.friendly, e.g. in a component's preprocessing). NaN and ±inf
cannot pass through gradio_client (its JSON encoder refuses them), so they go as raw JSON to
the REST route /gradio_api/call/<name>, as any HTTP client could send them.
"""

from __future__ import annotations

import json
import random
import struct
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from gradio_client import handle_file
from PIL import Image

import app as app_module
from advdemo import ui
from benchmarks.load_test import PHOTOS, Param, Settings, api_spec, make_client, request

pytestmark = pytest.mark.slow  # every case of every endpoint: ~40 s; CI runs it


# Every public api_name the app must have. A new public endpoint must be added here (and gets
# fuzzed automatically); one that disappears fails the set test below.
EXPECTED_PUBLIC = {
    "/models",
    "/classify",
    "/attack",
    "/eps_sweep",
    "/linearity",
    "/physical_world",
    "/translate",
    "/toy_gan",
    "/generator_costs",
    "/gan2d",
    "/arithmetic",
    "/arithmetic_invert",
    "/generate",
    "/interpolate",
    "/truncation",
    "/truncation_gif",
    "/defence_train",
    "/robustness_curve",
    "/detector",
    "/blackbox_attack",
    "/transfer",
}

# The heavy lane's endpoints are fuzzed by tests/test_api_fuzz_heavy.py, the rest here: two
# files, so pytest-xdist runs the halves on two workers (each with its own app) at once.
HEAVY = {
    "/attack",
    "/eps_sweep",
    "/translate",
    "/arithmetic_invert",
    "/defence_train",
    "/robustness_curve",
    "/detector",
    "/blackbox_attack",
    "/transfer",
    "/linearity",
    "/physical_world",
}

CALL_TIMEOUT = 60.0  # seconds: no answer by then counts as a hang
WORKERS = 6
# Short work: a bad value must be refused before any work starts, and a value that turns out
# valid (λ = 2.5) should not cost a full training.
FUZZ_SETTINGS = Settings(
    attack_steps=2, toy_gan_steps=20, inversion_steps=10, defence_epochs=2, defence_pgd_steps=1
)

GENERIC = ui.UNEXPECTED.split("(")[0].strip()  # "Something went wrong on the server ..."
BARE_GRADIO = "has not enabled verbose error reporting"  # gradio_client's text for error: null

NAN, INF = float("nan"), float("inf")
RAW = "raw"  # sent as raw JSON over HTTP
CLIENT = "client"  # sent with gradio_client


# --------------------------------------------------------------------------- bad values


@dataclass(frozen=True)
class Case:
    endpoint: str
    param: str
    label: str  # what the bad value is, for reports
    value: object  # the value, or a callable(files) -> value for uploads
    transport: str = CLIENT

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.endpoint, self.param, self.label)


# -inf and -1e308 were dropped: the app's number checks (core.errors.finite, which whole() calls)
# test math.isfinite before any bound, which NaN and +inf reach, and the bounds by comparison,
# which 1e308 and -1 reach; each case costs ~0.2 s on each of ~150 numeric parameters.
NUMBER_CASES = [
    ("NaN", NAN, RAW),
    ("+inf", INF, RAW),
    ("huge 1e308", 1e308, CLIENT),
    ("-1", -1, CLIENT),
    ("string 'abc'", "abc", CLIENT),
    ("None", None, CLIENT),
    ("list [1]", [1], CLIENT),
    ("fraction 2.5", 2.5, CLIENT),
]
TEXT_CASES = [
    ("empty string", "", CLIENT),
    ("None", None, CLIENT),
    ("number 123", 123, CLIENT),
    ("200,000 characters", "x" * 200_000, CLIENT),
    ("list ['a']", ["a"], CLIENT),
]
CHOICE_CASES = [
    ("unknown option", "no-such-option", CLIENT),
    ("empty string", "", CLIENT),
    ("None", None, CLIENT),
    ("number 7", 7, CLIENT),
    ("list", ["x"], CLIENT),
]
BOOL_CASES = [
    ("string 'yes'", "yes", CLIENT),
    ("None", None, CLIENT),
    ("number 2", 2, CLIENT),
    ("NaN", NAN, RAW),
]
JSON_CASES = [
    ("string", "text", CLIENT),
    ("None", None, CLIENT),
    ("number 3.5", 3.5, CLIENT),
    ("dict", {"a": 1}, CLIENT),
    ("list with NaN", [NAN], RAW),
    ("list with inf", [INF], RAW),
    ("list with -1", [-1], CLIENT),
    ("list with 1e308", [1e308], CLIENT),
    ("list with 2.5", [2.5], CLIENT),
    ("list of 5,000", list(range(5000)), CLIENT),
    ("nested lists", [[1, 2], [3]], CLIENT),
    ("deep nesting", json.loads("[" * 200 + "]" * 200), CLIENT),
    ("code of 99 numbers", [[0.0] * 99], CLIENT),
    ("code of 100 NaN", [[NAN] * 100], RAW),
]


def _files(tmp: Path, max_bytes: int) -> dict[str, Path]:
    """Uploads that are not usable images (made once per test session)."""
    files = {
        "text file": tmp / "notes.txt",
        "text named .png": tmp / "fake.png",
        "empty file": tmp / "empty.png",
        "truncated PNG": tmp / "truncated.png",
        "SVG": tmp / "vector.svg",
        "1×1 image": tmp / "tiny.png",
        "100-Mpixel image": tmp / "huge.png",
        "400-Mpixel image": tmp / "bomb.png",
        "over max_file_size": tmp / "oversize.png",
    }
    files["text file"].write_text("not an image\n" * 100)
    files["text named .png"].write_text("definitely not a PNG")
    files["empty file"].write_bytes(b"")
    files["truncated PNG"].write_bytes(PHOTOS[0].read_bytes()[:300])
    files["SVG"].write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
        '<rect width="64" height="64" fill="red"/></svg>'
    )
    Image.new("RGB", (1, 1)).save(files["1×1 image"])
    Image.new("L", (10_000, 10_000)).save(files["100-Mpixel image"])
    Image.new("1", (20_000, 20_000)).save(files["400-Mpixel image"])
    files["over max_file_size"].write_bytes(_png_larger_than(max_bytes))
    return files


def _png_larger_than(size: int) -> bytes:
    """A real PNG header followed by incompressible data, just over `size` bytes."""
    head = b"\x89PNG\r\n\x1a\n"
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    chunk += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return head + chunk + random.Random(0).randbytes(size + 1024)


FILE_META = {"_type": "gradio.FileData"}
FILE_LABELS = (
    "text file",
    "text named .png",
    "empty file",
    "truncated PNG",
    "SVG",
    "1×1 image",
    "100-Mpixel image",
    "400-Mpixel image",
    "over max_file_size",
)
FILE_VALUE_CASES = [
    ("None", None, CLIENT),
    ("empty string", "", CLIENT),
    ("number 42", 42, CLIENT),
    (
        "path not uploaded (/etc/passwd)",
        {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
        RAW,
    ),
    (
        "data URL with garbage",
        {"url": "data:image/png;base64,AAAA", "meta": {"_type": "gradio.FileData"}},
        RAW,
    ),
]


def cases_for(endpoint: str, params: list[Param]) -> list[Case]:
    """Each parameter's bad values. Parameters alike (same component, type and range, e.g.
    ten direction sliders) share the work: the first gets every case, each further one a
    rotating third of them, so every case still meets the group and every parameter some."""
    out = []
    seen: dict[tuple, int] = {}
    for p in params:
        if p.is_file:
            table = [(label, _upload(label), CLIENT) for label in FILE_LABELS] + FILE_VALUE_CASES
        elif p.choices is not None:
            table = CHOICE_CASES
        elif p.python_type == "bool":
            table = BOOL_CASES
        elif p.is_number:
            table = NUMBER_CASES
        elif p.python_type == "str":
            table = TEXT_CASES
        else:  # JSON and anything else
            table = JSON_CASES
        kind = (p.component, p.python_type, p.bounds, tuple(p.choices or ()))
        nth = seen[kind] = seen.get(kind, -1) + 1
        if nth:
            table = [row for i, row in enumerate(table) if (i + nth) % 3 == 0]
        out += [Case(endpoint, p.name, label, value, t) for label, value, t in table]
    return out


def _upload(label: str) -> Callable[[dict[str, Path]], object]:
    return lambda files: handle_file(str(files[label]))


# --------------------------------------------------------------------------- calling


@dataclass
class Answer:
    kind: str  # "ok" | "error" (with message) | "refused" (client side) | "http" | "hang"
    message: str | None = None
    seconds: float = 0.0


def call_client(client, endpoint: str, kwargs: dict, *, retries: int = 1) -> Answer:
    from concurrent.futures import CancelledError

    job = client.submit(api_name=endpoint, **kwargs)
    try:
        job.result(timeout=CALL_TIMEOUT)
    except TimeoutError:
        job.cancel()
        return Answer("hang")
    except CancelledError:
        # gradio_client's own job future was cancelled before an answer arrived (seen once in
        # CI with many jobs in flight): a hiccup of the test's transport, not the server's
        # answer (server errors come back as AppError), so send the same request again.
        if retries > 0:
            return call_client(client, endpoint, kwargs, retries=retries - 1)
        return Answer("refused", "CancelledError: the client's job was cancelled twice")
    except Exception as exc:
        from gradio_client.exceptions import AppError

        if isinstance(exc, AppError):
            return Answer("error", str(exc))
        return Answer("refused", f"{type(exc).__name__}: {exc}")
    return Answer("ok")


def _raw_file(url: str, value: object) -> object:
    """A handle_file() value, uploaded by hand for the raw route."""
    local = value.get("path", "") if isinstance(value, dict) else ""
    if value is not None and local and local != "/etc/passwd" and Path(local).exists():
        with open(local, "rb") as f:
            r = httpx.post(f"{url}/gradio_api/upload", files={"files": f}, timeout=60)
        r.raise_for_status()
        return {"path": r.json()[0], "meta": FILE_META}
    return value


def call_raw(url: str, endpoint: str, params: list[Param], kwargs: dict) -> Answer:
    """POST the arguments as JSON (NaN / Infinity allowed) and read the event stream."""
    data = [_raw_file(url, kwargs[p.name]) for p in params]
    body = json.dumps({"data": data}, allow_nan=True)
    route = f"{url}/gradio_api/call/{endpoint.lstrip('/')}"
    r = httpx.post(route, content=body, headers={"content-type": "application/json"}, timeout=30)
    if r.status_code != 200:
        return Answer("http", f"HTTP {r.status_code}: {r.text[:300]}")
    event_id = r.json()["event_id"]
    try:
        with httpx.stream("GET", f"{route}/{event_id}", timeout=CALL_TIMEOUT) as stream:
            event = None
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    payload = line.split(":", 1)[1].strip()
                    if event == "complete":
                        return Answer("ok")
                    parsed = json.loads(payload) if payload not in ("", "null") else None
                    message = parsed.get("error") if isinstance(parsed, dict) else None
                    return Answer("error", message)
    except httpx.TimeoutException:
        return Answer("hang")
    return Answer("http", "the event stream ended without a result")


def problem(answer: Answer, case: Case | None = None) -> str | None:
    """None if the answer is acceptable, else what is wrong with it."""
    if answer.kind == "ok":
        return None
    if answer.kind == "hang":
        return f"no answer within {CALL_TIMEOUT:.0f} s"
    message = (answer.message or "").strip()
    if answer.kind == "refused":  # gradio_client itself refused to send it
        oversize = case is not None and case.label == "over max_file_size"
        if oversize and "maximum file size" in message:
            return None
        return f"the client could not send it: {message[:200]}"
    if answer.kind == "http":
        status = int(message.split()[1].rstrip(":")) if message.startswith("HTTP ") else 0
        clear = 400 <= status < 500 and len(message) > len("HTTP 400: ")
        return None if clear else f"bad HTTP answer: {message[:200]}"
    if not message or BARE_GRADIO in message:
        return "error without a message (an exception outside ui.friendly)"
    if message.startswith(GENERIC):
        return f"generic message (unexpected exception in the callback): {message[:160]}"
    return None


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def spec(client):
    return api_spec(client)


@pytest.fixture(scope="module")
def max_file_size() -> int:
    from gradio.utils import _parse_file_size

    return _parse_file_size(app_module.MAX_FILE_SIZE)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, max_file_size) -> dict[str, Path]:
    return _files(tmp_path_factory.mktemp("fuzz-files"), max_file_size)


def valid_kwargs(spec, endpoint: str) -> dict:
    return request(spec, endpoint, random.Random(0), FUZZ_SETTINGS)


@pytest.fixture(scope="module")
def fuzzed() -> set[str]:
    """The endpoints this module fuzzes (test_api_fuzz_heavy.py overrides it)."""
    return EXPECTED_PUBLIC - HEAVY


@pytest.fixture(scope="module")
def fuzz_results(app_url, spec, bad_files, fuzzed) -> dict[tuple, tuple[Case, Answer]]:
    """Every case of the module's endpoints, run once, several at a time (lanes stay busy)."""
    cases: dict[str, list[Case]] = {
        name: cases_for(name, params) for name, params in sorted(spec.items()) if name in fuzzed
    }
    ordered = []  # round-robin over endpoints so one slow lane does not hold all workers
    while any(cases.values()):
        for name in list(cases):
            if cases[name]:
                ordered.append(cases[name].pop(0))
    clients = [make_client(app_url) for _ in range(WORKERS)]

    def run(indexed: tuple[int, Case]) -> tuple[Case, Answer]:
        i, case = indexed
        kwargs = valid_kwargs(spec, case.endpoint)
        value = case.value(bad_files) if callable(case.value) else case.value
        kwargs[case.param] = value
        t0 = time.perf_counter()
        if case.transport == RAW:
            answer = call_raw(app_url, case.endpoint, spec[case.endpoint], kwargs)
        else:
            answer = call_client(clients[i % WORKERS], case.endpoint, kwargs)
        answer.seconds = time.perf_counter() - t0
        return case, answer

    t0 = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(run, enumerate(ordered)))
    slowest = sorted(results, key=lambda r: -r[1].seconds)[:8]
    print(f"\nfuzz: {len(results)} calls in {time.perf_counter() - t0:.1f} s; slowest:")
    for case, answer in slowest:
        print(f"  {answer.seconds:5.1f} s {case.endpoint} {case.param}={case.label}: {answer.kind}")
    return {case.key: (case, answer) for case, answer in results}


# --------------------------------------------------------------------------- tests


def test_public_endpoints_are_the_expected_set(spec):
    assert set(spec) == EXPECTED_PUBLIC, (
        f"new public endpoints (add them to EXPECTED_PUBLIC): "
        f"{sorted(set(spec) - EXPECTED_PUBLIC)}; missing: {sorted(EXPECTED_PUBLIC - set(spec))}"
    )


@pytest.mark.parametrize("endpoint", sorted(EXPECTED_PUBLIC))
def test_valid_call_succeeds(client, spec, endpoint):
    """The valid call every fuzz case starts from really works (so a rejection means the bad
    value was noticed, not that the rest of the call was broken)."""
    assert endpoint in spec, f"the app has no public {endpoint}"
    answer = call_client(client, endpoint, valid_kwargs(spec, endpoint))
    assert answer.kind == "ok", f"{endpoint}: {answer.kind}: {answer.message}"


@pytest.mark.parametrize("endpoint", sorted(EXPECTED_PUBLIC - HEAVY))
def test_bad_values_get_clear_answers(fuzz_results, spec, endpoint):
    check_endpoint(fuzz_results, spec, endpoint)


def check_endpoint(fuzz_results, spec, endpoint: str) -> None:
    """Every bad value sent to `endpoint` got a clear answer."""
    assert endpoint in spec, f"the app has no public {endpoint}"
    mine = [(c, a) for c, a in fuzz_results.values() if c.endpoint == endpoint]
    assert len(mine) == len(cases_for(endpoint, spec[endpoint]))
    failures = [
        f"{c.param} = {c.label} ({c.transport}): {p}"
        for c, a in mine
        if (p := problem(a, c)) is not None
    ]
    assert not failures, f"{endpoint}: {len(failures)} unclear answer(s):\n" + "\n".join(failures)


def test_server_keeps_serving_after_the_fuzz(fuzz_results, client, spec):
    assert client.predict(api_name="/models")
    for endpoint in sorted(spec):
        answer = call_client(client, endpoint, valid_kwargs(spec, endpoint))
        assert answer.kind == "ok", f"after the fuzz, {endpoint}: {answer.kind}: {answer.message}"


def test_oversize_upload_is_refused_with_a_clear_message(app_url, bad_files, max_file_size):
    """The server itself refuses an upload over max_file_size (HTTP 413 naming the limit);
    gradio_client refuses it before sending, saying so."""
    with open(bad_files["over max_file_size"], "rb") as f:
        r = httpx.post(f"{app_url}/gradio_api/upload", files={"files": f}, timeout=60)
    assert r.status_code == 413
    assert str(max_file_size) in r.text and "size" in r.text.lower()
    config = httpx.get(f"{app_url}/config", timeout=30).json()
    assert config["max_file_size"] == max_file_size


def test_the_judge_tells_clear_answers_from_unclear_ones():
    """problem() itself: the generic and the empty error are caught, a real message passes."""
    oversize = Case("/x", "image", "over max_file_size", None)
    assert problem(Answer("ok")) is None
    assert problem(Answer("error", "Seed must be a finite number, got nan.")) is None
    assert problem(Answer("error", ui.UNEXPECTED.format(kind="NameError"))) is not None
    assert problem(Answer("error", None)) is not None
    assert problem(Answer("error", f"The upstream app {BARE_GRADIO}.")) is not None
    assert problem(Answer("hang")) is not None
    assert problem(Answer("refused", "ValueError: exceeds the maximum file size"), oversize) is None
    assert problem(Answer("refused", "ConnectError: refused"), oversize) is not None
    assert problem(Answer("http", "HTTP 500: Internal Server Error")) is not None
