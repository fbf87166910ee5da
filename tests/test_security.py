"""Issue #19: the launched app probed the way a client on the lecture's network could.

Every test sends what an attacker would send, as raw HTTP to the app's own routes
(/gradio_api/call/<api_name>, /gradio_api/upload, "/", "/config", /monitoring), and checks
the answer: server files are never read as uploads, a forged header never reaches another
visitor's page, data URLs and oversize bodies are refused before anything decodes them, every
value's declared limit holds on the server (and nothing oversize is kept in the session), user
text comes back escaped, usage statistics are private, and uploads are deleted after an hour.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from gradio import route_utils
from gradio.state_holder import SessionState
from gradio.utils import _parse_file_size, get_upload_folder
from PIL import Image

import app as app_module
from advdemo.tabs import adversarial
from advdemo.translation import cyclegan
from advdemo.ui import serving

TIMEOUT = 60.0
META = {"_type": "gradio.FileData"}  # what Gradio's own clients put in a file's "meta"


# --------------------------------------------------------------------------- helpers


def call(app_url: str, api_name: str, data: list, **extra) -> tuple[str, object]:
    """POST `data` to /gradio_api/call/<api_name> and read the event stream:
    ("complete", outputs) or ("error", message)."""
    route = f"{app_url}/gradio_api/call/{api_name}"
    r = httpx.post(route, json={"data": data, **extra}, timeout=TIMEOUT)
    assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:300]}"
    event = None
    with httpx.stream("GET", f"{route}/{r.json()['event_id']}", timeout=TIMEOUT) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                payload = json.loads(line.split(":", 1)[1].strip() or "null")
                if event == "complete":
                    return "complete", payload
                return "error", payload.get("error") if isinstance(payload, dict) else payload
    raise AssertionError(f"/{api_name}: the event stream ended without a result")


def api_inputs(demo, api_name: str) -> list:
    """The input components an API caller fills for `api_name`, in order."""
    fn = next(f for f in demo.fns.values() if f.api_name == api_name)
    return [b for b in fn.inputs if not b.skip_api]


def valid_data(demo, api_name: str) -> list:
    """Each input's initial value (the arithmetic's slots get a seed each, so it can run)."""
    data = [getattr(b, "value", None) for b in api_inputs(demo, api_name)]
    if api_name == "arithmetic":
        data[:3] = [[1], [2], [3]]
    return data


def upload(app_url: str, path: Path) -> dict:
    with open(path, "rb") as f:
        r = httpx.post(f"{app_url}/gradio_api/upload", files={"files": f}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text[:300]
    return {"path": r.json()[0], "orig_name": path.name, "meta": META}


def photo_file(path: Path, size=(48, 40), colour=(200, 30, 60)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


# --------------------------------------------------------------------------- 1. server files


@pytest.fixture
def link_in_upload_folder(tmp_path) -> Iterator[Path]:
    """A symbolic link inside Gradio's upload folder that leads to a photo outside it."""
    folder = Path(get_upload_folder()) / f"advdemo-security-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    link = folder / "photo.png"
    link.symlink_to(photo_file(tmp_path / "linked-secret.png"))
    yield link
    shutil.rmtree(folder)


def test_server_files_are_never_read_as_uploads(app_url, tmp_path, link_in_upload_folder):
    """#19.1: a path the client names is opened only if it is an upload, and every refusal
    reads the same, so it tells nothing about the file (exists, size, kind)."""
    secret_photo = photo_file(tmp_path / "server-secret.png")
    notes = tmp_path / "passwd"
    notes.write_text("root:x:0:0:root:/root:/bin/bash\n")
    big = tmp_path / "big-secret.bin"
    with open(big, "wb") as f:
        f.truncate(44 * 2**20)  # sparse: 44 MB on paper
    upload_folder = Path(get_upload_folder())
    climb = upload_folder / ".." / os.path.relpath(secret_photo, upload_folder.parent)
    probes = {
        "photo outside the upload folder": {"path": str(secret_photo)},
        "same, url null": {"path": str(secret_photo), "url": None},
        "same, with Gradio's meta": {"path": str(secret_photo), "meta": META},
        "a text file": {"path": str(notes)},
        "a 44 MB file": {"path": str(big)},
        "a missing file": {"path": str(tmp_path / "missing.png")},
        "a link out of the upload folder": {"path": str(link_in_upload_folder)},
        "same, with Gradio's meta ": {"path": str(link_in_upload_folder), "meta": META},
        "climbing out with ..": {"path": str(climb)},
    }
    endpoints = {
        "translate": lambda image: [image, cyclegan.BUILTIN, 64],
        "classify": lambda image: [image, adversarial.DEFAULT_MODEL],
    }
    answers = {}
    for api_name, data in endpoints.items():
        for label, probe in probes.items():
            answers[f"/{api_name} {label}"] = call(app_url, api_name, data(probe))
    served = [k for k, (kind, _) in answers.items() if kind != "error"]
    assert not served, f"served a server file: {served}"
    messages = {message for _, message in answers.values()}
    assert len(messages) == 1, "refusals differ, so they tell files apart:\n" + "\n".join(
        f"{k}: {m}" for k, (_, m) in answers.items()
    )
    message = messages.pop()
    for telltale in ("secret", "passwd", "missing", "MB", "photo.png", "/tmp", "not an image"):
        assert telltale not in message, f"the refusal names {telltale!r}: {message}"

    # a real upload of the same photo still works
    kind, outputs = call(
        app_url, "classify", [upload(app_url, secret_photo), adversarial.DEFAULT_MODEL]
    )
    assert kind == "complete", outputs


# --------------------------------------------------------------------------- 2. page cache


@pytest.mark.parametrize("path", ["/", "/config"])
@pytest.mark.parametrize(
    "header", [("x-gradio-server", "http://evil.example"), ("x-forwarded-host", "evil.example")]
)
def test_a_forged_root_header_never_reaches_another_visitor(app_url, path, header):
    """#19.2: the header Gradio builds the root URL from, sent once, after enough distinct
    addresses to push the clean copies out of the replay cache."""
    plain = httpx.get(app_url + path, timeout=TIMEOUT)  # also builds Gradio's API info cleanly
    assert plain.status_code == 200 and "evil.example" not in plain.text
    for i in range(serving.MAX_ENTRIES + 1):
        httpx.get(f"{app_url}{path}?evict={i}", timeout=TIMEOUT).raise_for_status()
    forged = httpx.get(app_url + path, headers=dict([header]), timeout=TIMEOUT)
    assert forged.status_code == 200
    assert "evil.example" in forged.text  # Gradio does build the attacker's page
    for _ in range(2):
        again = httpx.get(app_url + path, timeout=TIMEOUT)
        assert again.status_code == 200
        assert "evil.example" not in again.text, "a plain visitor got the attacker's root"


# --------------------------------------------------------------------------- 3. data URLs, bodies


def png_declaring(side: int) -> bytes:
    """A real greyscale PNG of side × side black pixels: ~80 kB for 8,900² (79 Mpx)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    packer = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("with_meta", [False, True])
def test_a_data_url_is_refused_before_anything_decodes_it(app_url, with_meta):
    """#19.3: an 8,900 × 8,900 PNG as a data URL (under the body cap) must not be decoded."""
    url = "data:image/png;base64," + base64.b64encode(png_declaring(8900)).decode()
    image = {"url": url, **({"meta": META} if with_meta else {})}
    t0 = time.perf_counter()
    kind, message = call(app_url, "classify", [image, adversarial.DEFAULT_MODEL])
    seconds = time.perf_counter() - t0
    assert kind == "error"
    assert "data: URL" in message and "upload" in message, message
    assert seconds < 3, f"took {seconds:.1f} s: something decoded it"


def test_a_web_address_is_refused_before_anything_fetches_it(app_url, tmp_path):
    """#19.3: an image "path" that is a web address would be downloaded by Gradio with no size
    limit (and from wherever the server can reach); it is refused, and nothing is fetched."""
    import http.server
    import threading

    fetched: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetched.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"\0" * 1024)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        address = f"http://127.0.0.1:{server.server_address[1]}/huge.png"
        for image in ({"path": address, "meta": META}, {"path": address, "url": address}):
            kind, message = call(app_url, "classify", [image, adversarial.DEFAULT_MODEL])
            assert kind == "error"
            assert "web address" in message and "upload" in message, message
    finally:
        server.shutdown()
        server.server_close()
    assert fetched == []


def test_request_bodies_are_capped(app_url):
    """#19.3: an oversize JSON body is refused before it is read whole, with or without a
    Content-Length; uploads are capped at the app's upload limit."""
    route = f"{app_url}/gradio_api/call/classify"
    big = {"data": [None, "x" * (2 * 2**20)]}
    assert httpx.post(route, json=big, timeout=TIMEOUT).status_code == 413

    def chunked() -> Iterator[bytes]:
        yield b'{"data": [null, "'
        for _ in range(64):
            yield b"x" * 32768
        yield b'"]}'

    headers = {"content-type": "application/json"}
    r = httpx.post(route, content=chunked(), headers=headers, timeout=TIMEOUT)
    assert r.status_code == 413

    blob = os.urandom(4 * 2**20)  # three 4 MB files in one request: 12 MB in all
    files = [("files", (f"part{i}.png", blob, "image/png")) for i in range(3)]
    r = httpx.post(f"{app_url}/gradio_api/upload", files=files, timeout=TIMEOUT)
    assert r.status_code == 413

    def chunked_upload() -> Iterator[bytes]:  # the same without a Content-Length
        for i in range(3):
            yield (
                f'--sep\r\nContent-Disposition: form-data; name="files"; filename="p{i}.png"\r\n'
                "Content-Type: image/png\r\n\r\n"
            ).encode()
            yield blob + b"\r\n"
        yield b"--sep--\r\n"

    headers = {"content-type": "multipart/form-data; boundary=sep"}
    r = httpx.post(
        f"{app_url}/gradio_api/upload", content=chunked_upload(), headers=headers, timeout=TIMEOUT
    )
    assert r.status_code == 413


def test_an_upload_just_under_the_limit_still_works(app_url, tmp_path):
    limit = _parse_file_size(app_module.MAX_FILE_SIZE)
    near = tmp_path / "near-limit.png"
    near.write_bytes(os.urandom(limit - 64 * 1024))
    r = httpx.post(
        f"{app_url}/gradio_api/upload", files={"files": near.open("rb")}, timeout=TIMEOUT
    )
    assert r.status_code == 200, r.text[:300]


# --------------------------------------------------------------------------- 4. server-side bounds


def _kept_beyond_a_new_session(demo, session: str) -> int:
    """How many more characters the app keeps for `session` (its components' last values)
    than for a session that has just begun."""
    state = demo.server_app.state_holder.session_data.get(session)
    if state is None:
        return 0
    return len(repr(state.config_values)) - len(repr(SessionState(demo).config_values))


# (api_name, input label, bad value, what the message must name besides the label)
BOUNDS = [
    ("arithmetic", "Slot A (+): name", "x" * 100_000, "40 characters"),
    ("arithmetic", "Slot B", [[0.5] * 100] * 200, "characters"),
    ("arithmetic", "Noise seed", 2**80, "4294967295"),
    ("attack", "attack", "y" * 100_000, "list of choices"),
    ("attack", "target class", "z" * 100_000, "characters"),
    ("translate", "Long side in pixels", 100_000, "1024"),
    ("toy_gan", "batch size", -3, "1"),
]


@pytest.mark.parametrize(("api_name", "label", "value", "limit"), BOUNDS)
def test_every_declared_limit_holds_on_the_server(app_url, demo, api_name, label, value, limit):
    """#19.4: max_length, minimum/maximum and choices are browser hints; the server enforces
    them, names the input and its limit, and keeps nothing of the refused value."""
    inputs = api_inputs(demo, api_name)
    data = valid_data(demo, api_name)
    index = next(i for i, b in enumerate(inputs) if (b.label or "").startswith(label))
    data[index] = value
    session = f"advdemo-security-{uuid.uuid4().hex}"
    kind, message = call(app_url, api_name, data, session_hash=session)
    assert kind == "error", f"{label} = {str(value)[:40]}… was accepted"
    assert label in message and limit in message, message
    assert len(message) < 600, f"the message echoes the value ({len(message)} characters)"
    assert _kept_beyond_a_new_session(demo, session) < 5_000, "the session keeps the value"


def test_the_check_reads_each_components_own_limits():
    """ui.refusal on kinds of components the app may use later."""
    import gradio as gr

    from advdemo.ui import DEFAULT_MAX_TEXT, MAX_VALUE_CHARS, refusal

    cases = [
        (gr.Textbox(label="t", max_length=5), "12345", "123456"),
        (gr.Textbox(label="t"), "x" * DEFAULT_MAX_TEXT, "x" * (DEFAULT_MAX_TEXT + 1)),
        (gr.Number(label="n", minimum=-1, maximum=1), 0.5, 1.5),
        (gr.Number(label="n", minimum=-1, maximum=1), 1, -(10**400)),
        (gr.Slider(0, 10, label="s"), 10, float("inf")),
        (gr.Slider(0, 10, label="s"), 0, "abc"),
        (gr.Checkbox(label="c"), True, "yes"),
        (gr.Radio(["a", "b"], label="r"), "b", "c"),
        (gr.Dropdown(["a", "b"], multiselect=True, label="d"), ["a", "b"], ["a", "a", "b"]),
        (gr.Dropdown(["a", "b"], multiselect=True, label="d"), ["a"], [["a"]]),
        (gr.Dropdown(["a"], allow_custom_value=True, label="d"), "typed", "x" * 201),
        (gr.CheckboxGroup(["a", "b"], label="g"), ["b"], ["z"]),
        (gr.JSON(label="j"), [1] * 100, [1] * MAX_VALUE_CHARS),
        (gr.File(label="f"), {"path": "/tmp/gradio/x/a.png"}, {"path": "a" * MAX_VALUE_CHARS}),
        (gr.Image(label="i"), None, {"path": "p", "url": "DATA:image/png;base64,AAAA"}),
    ]
    for component, fine, refused in cases:
        assert refusal(component, fine) is None, (component, fine)
        message = refusal(component, refused)
        assert message and message.startswith(f"“{component.label}”"), (component, refused)


# --------------------------------------------------------------------------- 5. escaping


def test_user_text_is_escaped_where_it_is_rendered(app_url, demo):
    data = valid_data(demo, "arithmetic")
    names = ["<img src=x onerror=alert(1)>", "[a](javascript:alert(1))", "a & <b>"]
    data[-3:] = names
    kind, outputs = call(app_url, "arithmetic", data)
    assert kind == "complete", outputs
    summary = outputs[3]
    assert "<img" not in summary and "<b>" not in summary, summary
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;" in summary, summary
    assert "](javascript" not in summary, summary


# --------------------------------------------------------------------------- 6. monitoring


def test_usage_statistics_are_not_public(app_url):
    for path in ("/monitoring/summary", "/monitoring", "/gradio_api/monitoring/summary"):
        r = httpx.get(app_url + path, timeout=TIMEOUT)
        assert r.status_code in (403, 404), f"{path}: HTTP {r.status_code} {r.text[:200]}"


def test_an_operator_can_turn_monitoring_on(monkeypatch):
    monkeypatch.delenv("ADVDEMO_MONITORING", raising=False)
    assert app_module.launch_options()["enable_monitoring"] is False
    monkeypatch.setenv("ADVDEMO_MONITORING", "1")
    assert app_module.launch_options()["enable_monitoring"] is True


# --------------------------------------------------------------------------- 7. old uploads


def test_uploads_are_deleted_after_an_hour(app_url, demo, tmp_path, monkeypatch):
    """#19.7: the launched app deletes what it stores (uploads, outputs) once an hour old."""
    assert demo.delete_cache is not None, "the app never deletes uploads and outputs"
    frequency, age = demo.delete_cache
    assert age == 3600 and frequency <= 600
    mine = upload(app_url, photo_file(tmp_path / f"{uuid.uuid4().hex}.png"))["path"]
    assert mine in demo.upload_file_set, "the upload is not among the files the app deletes"

    # Gradio's own sweep, as the schedule runs it, over this test's upload only (other
    # tests' files stay), once with the clock as it is and once an hour later.
    only = SimpleNamespace(blocks={}, temp_file_sets=[{mine}])
    route_utils.delete_files_created_by_app(only, age)
    assert Path(mine).exists(), "a fresh upload was deleted"

    class HourLater(route_utils.datetime):
        @classmethod
        def now(cls, tz=None):
            return super().now(tz) + timedelta(seconds=age + 1)

    monkeypatch.setattr(route_utils, "datetime", HourLater)
    route_utils.delete_files_created_by_app(only, age)
    assert not Path(mine).exists(), "an hour-old upload was kept"
