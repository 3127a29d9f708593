"""ipywidgets controls for the notebooks: step through snapshots, drag through a latent space."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets
from IPython.display import display

# Labels at their natural width: the default cuts "temperature" to "temperat…".
LABEL_STYLE = {"description_width": "initial"}


def frame_slider(
    frames: Sequence, show: Callable[[object], None], description: str = "frame"
) -> widgets.IntSlider | None:
    """A slider that calls ``show(frames[i])`` (which should draw a figure) for the chosen i.

    With a single frame there is nothing to slide through: it is drawn directly, and None is returned.
    """
    if len(frames) == 1:
        show(frames[0])
        return None
    slider = widgets.IntSlider(value=len(frames) - 1, min=0, max=len(frames) - 1, description=description,
                               style=LABEL_STYLE)
    output = widgets.interactive_output(lambda index: show(frames[index]), {"index": slider})
    display(widgets.VBox([slider, output]))
    return slider


def float_sliders(
    names: Sequence[str], show: Callable[..., None], low: float = -3.0, high: float = 3.0, step: float = 0.1
) -> dict[str, widgets.FloatSlider]:
    """One slider per name; ``show(**values)`` redraws whenever any of them moves."""
    sliders = {name: widgets.FloatSlider(value=0.0, min=low, max=high, step=step, description=name, style=LABEL_STYLE)
               for name in names}
    output = widgets.interactive_output(show, sliders)
    display(widgets.VBox([*sliders.values(), output]))
    return sliders
