"""advdemo.ui.serving: Gradio's page and config replayed per address, and cache files written
atomically so that many users producing the same image never download half of it."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from advdemo.ui import serving

# --------------------------------------------------------------------------- CachedPages


def _app(calls: list[str]) -> tuple[Starlette, TestClient]:
    """A stand-in for Gradio: "/" and "/config" answer with the address they were built for."""

    def config(request: Request):
        calls.append(request.url.path)
        if request.query_params.get("fail"):
            return PlainTextResponse("broken", status_code=500)
        response = JSONResponse(
            {
                "root": str(request.base_url),
                "forwarded": request.headers.get("x-forwarded-host"),
                "n": len(calls),
            }
        )
        if request.query_params.get("cookie"):
            response.set_cookie("session", "abc")
        return response

    app = Starlette(
        routes=[Route(path, config, methods=["GET", "POST"]) for path in ("/", "/config", "/x")],
        middleware=[Middleware(serving.CachedPages, max_entries=3)],
    )
    return app, TestClient(app)


def test_repeat_gets_are_replayed_byte_for_byte():
    calls: list[str] = []
    _, client = _app(calls)
    first = client.get("/config")
    again = client.get("/config")
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and again.headers == first.headers
    assert calls == ["/config"]
    client.get("/")
    client.get("/")
    assert calls == ["/config", "/"]


@pytest.mark.parametrize(
    "variant",
    [
        {"headers": {"host": "example.org"}},
        {"headers": {"x-forwarded-host": "space.example"}},
        {"headers": {"x-forwarded-proto": "https"}},
        {"headers": {"x-gradio-server": "http://elsewhere.example"}},
        {"params": {"page": "other"}},
    ],
)
def test_a_different_address_is_built_afresh(variant):
    calls: list[str] = []
    _, client = _app(calls)
    plain = client.get("/config").json()
    other = client.get("/config", **variant).json()
    assert len(calls) == 2 and other["n"] == 2
    if "x-forwarded-host" in variant.get("headers", {}):
        assert other["forwarded"] == "space.example"
    assert client.get("/config").json() == plain  # the first one is still kept


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"method": "POST"},
        {"url": "/x"},  # not a page
        {"params": {"fail": 1}},  # not a 200
        {"params": {"cookie": 1}},  # sets a cookie
        {"cookies": {"access-token-xyz": "t"}},  # a logged-in user's page
    ],
)
def test_what_must_not_be_replayed_always_reaches_the_app(request_kwargs):
    calls: list[str] = []
    _, client = _app(calls)
    kwargs = {"method": "GET", "url": "/config", **request_kwargs}
    for _ in range(3):
        if "cookies" in kwargs:
            client.cookies.update(kwargs["cookies"])
        client.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"))
    assert len(calls) == 3


def test_a_header_sent_twice_is_keyed_on_every_value():
    """Gradio (Starlette) reads the first of two Host headers; the key must tell
    [evil, real] from [real]."""
    pages = serving.CachedPages(lambda *a: None)
    scope = {"type": "http", "method": "GET", "path": "/config", "query_string": b""}
    real = [(b"host", b"127.0.0.1:7860")]
    doubled = [(b"host", b"evil.example"), *real]
    assert pages.key({**scope, "headers": real}) != pages.key({**scope, "headers": doubled})


def test_another_gradio_turns_the_replay_off_loudly(monkeypatch, caplog):
    """If Gradio may build the root from something the key lacks, nothing is replayed."""
    monkeypatch.setattr(serving, "CHECKED_GRADIO", "0.0.1")
    calls: list[str] = []
    with caplog.at_level("ERROR", logger="advdemo.serving"):
        _, client = _app(calls)
        for _ in range(3):
            assert client.get("/config").status_code == 200
    assert len(calls) == 3
    assert "replay" in caplog.text and "OFF" in caplog.text and "0.0.1" in caplog.text


def test_a_root_header_gradio_starts_reading_turns_the_replay_off(monkeypatch):
    monkeypatch.setattr(serving, "ROOT_HEADERS", (b"host", b"x-forwarded-host"))
    reason = serving.replay_unsafe_because()
    assert reason and "x-gradio-server" in reason and "x-forwarded-proto" in reason
    monkeypatch.undo()
    assert serving.replay_unsafe_because() is None  # the installed Gradio was checked


def test_the_cache_is_bounded_least_recently_used_first_out():
    calls: list[str] = []
    _, client = _app(calls)
    for page in "abcd":  # max_entries=3: "a" leaves when "d" comes
        client.get("/config", params={"page": page})
    client.get("/config", params={"page": "d"})
    assert len(calls) == 4
    client.get("/config", params={"page": "a"})
    assert len(calls) == 5


# --------------------------------------------------------------------------- the launched app


def _get(url: str, headers: dict[str, str] | None = None) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
        assert r.status == 200
        return r.read()


def test_the_app_serves_each_address_its_own_config(app_url):
    here = json.loads(_get(f"{app_url}/config"))
    assert _get(f"{app_url}/config") == _get(f"{app_url}/config")
    proxied = json.loads(
        _get(
            f"{app_url}/config",
            {"X-Forwarded-Host": "space.example", "X-Forwarded-Proto": "https"},
        )
    )
    assert here["root"] == app_url
    assert proxied["root"] == "https://space.example"
    assert json.loads(_get(f"{app_url}/config"))["root"] == app_url
    page = _get(f"{app_url}/?lecture=1")
    assert b"gradio_config" in page and page == _get(f"{app_url}/?lecture=1")


# --------------------------------------------------------------------------- atomic cache files


def test_atomic_writers_keep_gradios_names(tmp_path):
    from gradio import processing_utils as pu

    serving.atomic_cache_writes()
    serving.atomic_cache_writes()  # idempotent
    assert pu.save_pil_to_cache.atomic and pu.save_bytes_to_cache.atomic
    img = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3))
    original = serving.GRADIO_ORIGINALS
    for fmt in ("png", "webp"):
        ours = Path(pu.save_pil_to_cache(img, str(tmp_path / "ours"), format=fmt))
        theirs = Path(original["save_pil_to_cache"](img, str(tmp_path / "theirs"), format=fmt))
        # <cache>/<sha256 of the bytes>/image.<format>, as Gradio names it
        assert ours.parent.parent == tmp_path / "ours" and ours.name == theirs.name
        assert ours.parent.name == pu.hash_bytes(ours.read_bytes())
        assert Image.open(ours).format == Image.open(theirs).format
        if fmt == "png":  # lossless, at whatever compression level
            assert Image.open(ours).convert("RGB").tobytes() == img.tobytes()
        else:  # Gradio's own encoder: the very same file
            assert ours.relative_to(tmp_path / "ours") == theirs.relative_to(tmp_path / "theirs")
    ours = pu.save_bytes_to_cache(b"GIF89a...", "strip.gif", str(tmp_path / "ours"))
    theirs = original["save_bytes_to_cache"](b"GIF89a...", "strip.gif", str(tmp_path / "theirs"))
    assert Path(ours).name == Path(theirs).name == "strip.gif"
    assert Path(ours).read_bytes() == b"GIF89a..."


def test_readers_never_see_a_half_written_image_while_others_save_it_again(tmp_path):
    """The lecture-hall case: many users produce the same image while one downloads it."""
    from gradio import processing_utils as pu

    serving.atomic_cache_writes()
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))  # ~200 kB PNG
    path = Path(pu.save_pil_to_cache(img, str(tmp_path), format="png"))
    other = tmp_path / "replaced.bin"  # a file whose content does change: written anew each time
    contents = (b"a" * 150_000, b"b" * 90_000)
    serving.publish(other, contents[0])
    whole = {path: {path.stat().st_size}, other: {len(c) for c in contents}}
    stop = threading.Event()
    short_reads: list[tuple[str, int]] = []

    def read_repeatedly(target: Path):
        while not stop.is_set():
            with open(target, "rb") as f:  # as a file response does: chunk by chunk
                got = 0
                while chunk := f.read(65536):
                    got += len(chunk)
            if got not in whole[target]:
                short_reads.append((target.name, got))

    readers = [threading.Thread(target=read_repeatedly, args=(t,)) for t in (path, other)]
    for t in readers:
        t.start()
    try:
        for i in range(150):
            assert pu.save_pil_to_cache(img, str(tmp_path), format="png") == str(path)
            serving.publish(other, contents[i % 2])
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert not short_reads
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no staging files left
