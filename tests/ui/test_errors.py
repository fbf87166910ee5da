"""UI glue: library errors and inputs Gradio cannot convert both reach the user as messages."""

from __future__ import annotations

import gradio as gr
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from advdemo import ui
from advdemo.core.errors import InputError
from benchmarks.common import launch_local


@ui.friendly
def _double(x: float, n: int) -> float:
    if x < 0:
        raise InputError("x must not be negative here.")
    if x > 100:
        raise RuntimeError("an internal detail the user must not see")
    return 2 * x + n


@pytest.fixture(scope="module")
def guarded_client():
    with gr.Blocks(analytics_enabled=False) as demo:
        x = gr.Slider(-10, 200, value=1, label="strength")
        n = gr.Number(value=0, precision=0, label="count")
        out = gr.Number()
        gr.Button().click(_double, [x, n], out, api_name="double")
    ui.readable_input_errors(demo)
    url = launch_local(demo)
    yield Client(url, analytics_enabled=False, verbose=False)
    demo.close()


def test_good_values_pass_through(guarded_client):
    assert guarded_client.predict(3, 1, api_name="/double") == 7


@pytest.mark.parametrize(
    "x, n, fragment",
    [
        ("abc", 0, "“strength” expects a finite number; got 'abc'"),
        (None, 0, "“strength” expects a finite number; got None"),
        ([1], 0, "“strength” expects a finite number"),
        (1, "many", "“count” expects a finite number"),
        (-1, 0, "x must not be negative here."),
        (150, 0, "Something went wrong on the server"),
    ],
)
def test_bad_values_get_a_message_naming_the_input(guarded_client, x, n, fragment):
    with pytest.raises(AppError) as exc:
        guarded_client.predict(x, n, api_name="/double")
    assert fragment in str(exc.value)
    assert "internal detail" not in str(exc.value)


def _endpoint(store, seed: int, *, scale: float = 1.0) -> str:
    """Doc of the endpoint."""
    return f"{store}:{seed * scale}"


def _stream(store, n: int):
    yield from (f"{store}{i}" for i in range(n))


def test_bind_fixes_the_store_and_documents_only_the_users_parameters():
    import inspect

    bound = ui.bind(_endpoint, "S")
    assert bound(2, scale=1.5) == "S:3.0"
    assert list(inspect.signature(bound).parameters) == ["seed", "scale"]
    assert bound.__name__ == "_endpoint" and bound.__doc__ == "Doc of the endpoint."
    wrapped = ui.friendly(bound)  # what the tabs wire: the signature survives the wrapper
    assert list(inspect.signature(wrapped).parameters) == ["seed", "scale"]
    stream = ui.friendly(ui.bind(_stream, "G"))
    assert inspect.isgeneratorfunction(stream) and list(stream(3)) == ["G0", "G1", "G2"]


@ui.friendly
def _refuse():
    raise InputError("no")


@ui.friendly
def _crash():
    raise RuntimeError("internal")


def test_messages_stay_until_closed():
    """#20: Gradio's toast vanishes after 10 s by default and leaves bare "Error" badges; every
    message the app raises stays until the user closes it."""
    for fn in (_refuse, _crash):
        with pytest.raises(gr.Error) as info:
            fn()
        assert info.value.duration is None


def test_a_users_mistake_prints_no_traceback_and_a_crash_is_logged_once(caplog):
    """Gradio prints a traceback for each gr.Error unless told not to: one per bad value
    (723 in one API fuzz) buried the server's real errors. A crash is logged by friendly."""
    with caplog.at_level("ERROR"):
        for fn in (_refuse, _crash):
            with pytest.raises(gr.Error) as info:
                fn()
            assert info.value.print_exception is False
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [RuntimeError]


class _FakeRemote:
    """A backend that serves one function and records what it was asked."""

    def __init__(self, serves):
        self.served, self.calls = serves, []

    def serves(self, fn):
        return fn is self.served

    def call(self, fn, args, kwargs):
        self.calls.append((fn.__name__, args, kwargs))
        return "remote answer"

    def stream(self, fn, args, kwargs):
        self.calls.append((fn.__name__, args, kwargs))
        yield from ("remote 1", "remote 2")


class _Store:
    def __init__(self, remote=None):
        self.remote = remote


def _served(store, slot, value, progress=None):
    return f"here: {slot} {value}"


def _served_stream(store, value):
    yield f"here: {value}"


def test_bind_runs_here_without_a_remote_backend():
    bound = ui.bind(_served, _Store(), "A")
    assert bound(3) == "here: A 3" and bound.runs_remotely is False
    assert list(ui.bind(_served_stream, _Store())(5)) == ["here: 5"]


def test_bind_sends_a_served_function_to_the_remote_backend_with_the_other_bound_values():
    remote = _FakeRemote(_served)
    bound = ui.friendly(ui.bind(_served, _Store(remote), "A"))
    assert bound(3, progress="p") == "remote answer" and bound.runs_remotely is True
    assert remote.calls == [("_served", ("A", 3), {"progress": "p"})]
    # what the backend does not serve runs here, with the same store
    assert ui.bind(_served_stream, _Store(remote))(5).__next__() == "here: 5"
    streaming = _FakeRemote(_served_stream)
    assert list(ui.bind(_served_stream, _Store(streaming))(5)) == ["remote 1", "remote 2"]
    assert streaming.calls == [("_served_stream", (5,), {})]
