"""advdemo.gan2d.drawing: clicks on the pad become points of the plane, and the pad shows them."""

from __future__ import annotations

import numpy as np
import pytest

from advdemo.core.errors import InputError
from advdemo.gan2d import data, drawing


def test_pixels_and_plane_points_convert_both_ways_with_y_up():
    corner = drawing.pixel_to_plane(0, 0)  # the top-left pixel is the plane's top left
    assert corner[0] < -data.EXTENT + 0.01 and corner[1] > data.EXTENT - 0.01
    middle = drawing.PAD_PIXELS / 2
    assert np.allclose(drawing.pixel_to_plane(middle - 0.5, middle - 0.5), (0, 0))
    pixels = np.array([[3, 470], [100, 300], [479, 0]])
    plane = np.array([drawing.pixel_to_plane(x, y) for x, y in pixels])
    assert np.allclose(drawing.plane_to_pixel(plane), pixels)
    for bad in ((-1, 5), (5, drawing.PAD_PIXELS), ("a", 3), (None, None)):
        with pytest.raises(InputError):
            drawing.pixel_to_plane(*bad)


def test_clicks_undo_and_clear_make_a_set_the_trainer_reads():
    text = ""
    clicks = [(60, 60), (420, 60), (240, 400)]
    for x, y in clicks:
        text = drawing.add_point(text, x, y)
    points = data.parse_points(text)
    assert np.allclose(points, [drawing.pixel_to_plane(x, y) for x, y in clicks], atol=0.006)
    assert data.make_dataset("points", text).modes == 3
    assert len(data.parse_points(drawing.undo_point(text))) == 2
    one = drawing.undo_point(drawing.undo_point(text))
    with pytest.raises(InputError, match="two different points"):
        data.parse_points(one)
    assert drawing.undo_point(one) == "" and drawing.undo_point("") == ""
    with pytest.raises(InputError, match="empty: draw, type or upload"):
        data.parse_points(drawing.undo_point(one))
    typed = drawing.add_point(data.EXAMPLE_POINTS, 240, 240)  # drawing onto typed points
    assert len(data.parse_points(typed)) == len(data.parse_points(data.EXAMPLE_POINTS)) + 1


def test_a_full_set_refuses_another_click_and_bad_text_says_so():
    full = "\n".join(["0, 0"] * data.MAX_POINTS)
    with pytest.raises(InputError, match="most points"):
        drawing.add_point(full, 10, 10)
    with pytest.raises(InputError, match="not two numbers"):
        drawing.add_point("1, 2\na, b", 10, 10)


def test_the_pad_shows_each_point_and_the_newest_in_its_own_colour():
    blank = drawing.pad_image("")
    assert blank.shape == (drawing.PAD_PIXELS, drawing.PAD_PIXELS, 3)
    text = drawing.add_point(drawing.add_point("", 100, 100), 300, 380)
    pad = drawing.pad_image(text)
    assert tuple(pad[100, 100]) == drawing._DOT and tuple(pad[380, 300]) == drawing._NEWEST
    changed = (pad != blank).any(-1)
    one_disc = changed[90:111, 90:111].sum()
    assert one_disc > 50 and changed.sum() == 2 * one_disc  # two dots, nothing else
    assert np.array_equal(drawing.pad_image("1, 2\nhalf typ"), blank)


def test_an_edit_builds_on_the_last_one_while_the_browser_shows_stale_text():
    one = drawing.add_point("", 100, 100)
    assert drawing.catch_up("", None) == ""  # the first edit: the text shown
    assert drawing.catch_up("", ("", one)) == one  # the browser still shows what it started from
    assert drawing.catch_up(one, ("", one)) == one  # the answer arrived
    typed = "x, y\n1, 1"
    assert drawing.catch_up(typed, ("", one)) == typed  # typed since: the user's text wins
