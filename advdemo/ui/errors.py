"""Turning library errors into messages a user can read, and binding a tab's model store (and,
through it, sending an endpoint to a remote backend when the app has one).

Library code raises advdemo.core.errors exceptions and never imports gradio; every callback a
tab wires goes through `friendly`, so a user sees either that message or a plain sentence
(never a stack trace), and the server log has the rest.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from advdemo.core.errors import InputError, ModelUnavailable

log = logging.getLogger("advdemo")

UNEXPECTED = (
    "Something went wrong on the server while handling this request ({kind}). "
    "It has been logged; other users are not affected. Try again or change the settings."
)


def user_error(message: str, title: str = "Cannot do that") -> gr.Error:
    """The error a user sees: a message that stays on screen until they close it.

    Gradio's default toast vanishes after 10 s and leaves a bare red "Error" badge on every
    output, so a student who looked at the picture first never read why (issue #20).
    Gradio would also print a traceback for each one: a student's typo is not the server's
    fault (the API fuzz printed 723 of them), and unexpected exceptions are logged once below."""
    return gr.Error(message, title=title, duration=None, print_exception=False)


def _as_gradio_error(exc: BaseException) -> gr.Error:
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, InputError | ModelUnavailable):
        return user_error(str(exc))
    log.exception("unexpected error in a callback", exc_info=exc)
    return user_error(UNEXPECTED.format(kind=type(exc).__name__), title="Server error")


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a Gradio callback so every failure reaches the user as a clear message.

    InputError / ModelUnavailable messages are shown as they are; anything else is logged
    with its traceback and answered with a generic message (never a stack trace in the UI).
    Works for plain functions and for generators (streaming callbacks).
    """
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                raise _as_gradio_error(exc) from exc

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise _as_gradio_error(exc) from exc

    return wrapper


def _remote(fn: Callable[..., Any], leading: tuple) -> Any:
    """The backend that runs `fn` instead of this process, or None. A model store may carry
    one (`store.remote`, set by app.main for Ray Serve, see advdemo.serve): an object with
    serves(fn), call(fn, args, kwargs) and stream(fn, args, kwargs), which runs `fn` with a
    store of its own in place of `leading[0]`."""
    remote = getattr(leading[0], "remote", None) if leading else None
    return remote if remote is not None and remote.serves(fn) else None


def bind(fn: Callable[..., Any], *leading: Any) -> Callable[..., Any]:
    """`fn` with its first parameters fixed to `leading` (a tab binds its model store), as a
    real function: its name, docstring and the signature Gradio documents for the API are
    `fn`'s without the bound parameters. Works for generators too.

    Where the store has a remote backend that serves `fn` (Ray Serve), the call goes there,
    with the other bound values and the caller's arguments; the tab and `fn` are the same
    either way. `runs_remotely` on the result says which (friendly() keeps the attribute)."""
    signature = inspect.signature(fn)
    rest = list(signature.parameters.values())[len(leading) :]
    remote = _remote(fn, leading)
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def bound_gen(*args, **kwargs):
            if remote is not None:
                yield from remote.stream(fn, (*leading[1:], *args), kwargs)
            else:
                yield from fn(*leading, *args, **kwargs)

        bound: Callable[..., Any] = bound_gen
    else:

        @functools.wraps(fn)
        def bound(*args, **kwargs):
            if remote is not None:
                return remote.call(fn, (*leading[1:], *args), kwargs)
            return fn(*leading, *args, **kwargs)

    bound.__signature__ = signature.replace(parameters=rest)  # type: ignore[attr-defined]
    bound.runs_remotely = remote is not None  # type: ignore[attr-defined]
    return bound
