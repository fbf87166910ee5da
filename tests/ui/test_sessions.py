"""advdemo.ui.sessions: a new session no longer builds every block's config at once, and what
Gradio reads from those configs is the same as with its own constructor."""

from __future__ import annotations

import json
import logging

import pytest
from gradio.state_holder import SessionState

from advdemo.ui import sessions


def _eager(demo) -> SessionState:
    """A session made by Gradio's own constructor."""
    state = SessionState.__new__(SessionState)
    SessionState.__init__.gradio_original(state, demo)
    return state


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


@pytest.fixture(scope="module")
def launched(app_url, demo):
    """The app as served: build_demo installed the lazy constructor, launch made its config."""
    assert getattr(SessionState.__init__, "lazy", False), "build_demo did not install it"
    return demo


def test_a_new_session_builds_no_config_until_one_is_read(launched):
    state = SessionState(launched)
    assert isinstance(state.config_values, sessions.LazyBlockConfigs)
    assert state.config_values.built == 0
    assert len(state.config_values) == len(_eager(launched).config_values) > 100


def test_deep_link_configs_are_gradios_own(launched):
    lazy, eager = SessionState(launched), _eager(launched)
    assert list(lazy.config_values) == list(eager.config_values)  # same blocks, same order
    assert _same(list(lazy.components), list(eager.components))


def test_a_recorded_value_reaches_the_deep_link_as_in_gradio(launched):
    lazy, eager = SessionState(launched), _eager(launched)
    key = next(k for k, c in eager.config_values.items() if "value" in c.get("props", {}))
    for state in (lazy, eager):
        state._update_value_in_config(key, "a value this session chose")
    assert lazy.config_values[key]["props"]["value"] == "a value this session chose"
    assert _same(list(lazy.components), list(eager.components))
    assert lazy.config_values.built == len(lazy.config_values)  # the deep link read them all


def test_configs_are_per_session(launched):
    a, b = SessionState(launched), SessionState(launched)
    key = next(iter(a.config_values))
    assert a.config_values[key] is not b.config_values[key]


def test_unknown_blocks_are_missing_as_in_a_dict(launched):
    state = SessionState(launched)
    assert 10**9 not in state.config_values
    with pytest.raises(KeyError):
        state.config_values[10**9]
    with pytest.raises(KeyError):
        del state.config_values[10**9]


def test_another_gradio_keeps_its_own_constructor(monkeypatch, caplog):
    original = getattr(SessionState.__init__, "gradio_original", SessionState.__init__)
    monkeypatch.setattr(SessionState, "__init__", original)
    monkeypatch.setattr(sessions, "CHECKED_SOURCE", "0" * 64)
    with caplog.at_level(logging.ERROR, logger="advdemo.sessions"):
        assert sessions.lazy_session_configs() is False
    assert SessionState.__init__ is original
    assert "OFF" in caplog.text


def test_the_checked_source_is_this_gradios():
    """Fails when Gradio is upgraded: read its new constructor, then update the copy and
    CHECKED_SOURCE together."""
    assert sessions.source_digest() == sessions.CHECKED_SOURCE


# --------------------------------------------------------------- a session's latest value


class _Request:
    def __init__(self, session_hash):
        self.session_hash = session_hash


def _in_session(session_hash, fn, *args):
    """fn(*args) as Gradio runs a callback of that session (its request in LocalContext)."""
    from gradio.context import LocalContext

    token = LocalContext.request.set(_Request(session_hash))
    try:
        return fn(*args)
    finally:
        LocalContext.request.reset(token)


def test_answers_for_a_value_the_session_left_are_held_back():
    latest = sessions.SessionLatest(limit=2)
    steps = []

    def attack(photo, strength):
        steps.append("first")
        yield (f"{photo} at {strength}", "plot to come")
        _in_session("ann", latest.remember, "panda.png")  # Ann picks another photo meanwhile
        steps.append("second")
        yield (f"{photo} at {strength}", "plot")

    held = sessions.while_current(attack, latest)
    _in_session("ann", latest.remember, "cat.png")
    answers = _in_session("ann", lambda: list(held("cat.png", 4)))
    assert answers[0] == ("cat.png at 4", "plot to come")
    assert all(isinstance(a, type(sessions.gr.skip())) for a in answers[1])  # left as they are
    assert steps == ["first", "second"]  # it ran to its end (its work may be shared)
    # Bob never said which photo he has (an API caller): nothing is held back for him.
    assert _in_session("bob", lambda: list(held("cat.png", 4)))[1][1] == "plot"
    # Outside any session nothing is held either, and the oldest sessions are forgotten.
    assert list(held("cat.png", 4))[1][1] == "plot"
    _in_session("bob", latest.remember, "rocket.jpg")
    _in_session("cy", latest.remember, "rocket.jpg")
    assert not _in_session("ann", latest.moved_on, "cat.png")  # Ann was forgotten


def test_a_plain_callback_is_held_back_too():
    latest = sessions.SessionLatest()
    sweep = sessions.while_current(lambda photo: f"sweep of {photo}", latest)
    _in_session("ann", latest.remember, "cat.png")
    assert _in_session("ann", sweep, "cat.png") == "sweep of cat.png"
    _in_session("ann", latest.remember, "panda.png")
    assert isinstance(_in_session("ann", sweep, "cat.png"), type(sessions.gr.skip()))
