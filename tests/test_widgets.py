"""Widgets: labels shown in full, and no slider with a single position."""

from genlearn.widgets import float_sliders, frame_slider


def test_frame_slider_spans_every_frame_and_reacts():
    shown = []
    slider = frame_slider(["a", "b", "c"], shown.append, description="snapshot")
    assert (slider.min, slider.max, slider.value) == (0, 2, 2)
    assert slider.style.description_width == "initial"
    slider.value = 0
    assert shown[-1] == "a"


def test_a_single_frame_is_drawn_without_a_slider():
    shown = []
    assert frame_slider(["only"], shown.append) is None
    assert shown == ["only"]


def test_float_sliders_redraw_with_every_value():
    calls = []
    sliders = float_sliders(["z1", "z2"], lambda z1, z2: calls.append((z1, z2)))
    sliders["z2"].value = 1.5
    assert calls[-1] == (0.0, 1.5)
    assert all(s.style.description_width == "initial" for s in sliders.values())
