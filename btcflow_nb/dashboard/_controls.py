"""Controls and the shared date scale of the dashboards (private module).

* :class:`ZoomDateScale` — the shared date scale whose pan/zoom reaches Python;
* :class:`VenuePicker` — pick venues with one click each;
* :func:`slider_with_entry` — a wide slider with a typed entry linked to it.
"""
from __future__ import annotations

import datetime

import bqplot as bq
import ipywidgets as W
import traitlets


def _browser_date_from_json(value, _widget):
    """A date from the browser ("2020-01-30T08:59:42.878Z", JavaScript's ``Date.toJSON``, UTC)
    as a naive UTC datetime; None stays None."""
    if not value:
        return None
    return datetime.datetime.strptime(value.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")


_DateTrait = type(bq.DateScale.class_traits()["min"])         # bqscales' Date trait
_DATE_TO_JSON = bq.DateScale.class_traits()["min"].metadata["to_json"]


class ZoomDateScale(bq.DateScale):
    """``bqplot.DateScale`` whose ``min``/``max`` survive the trip back from the browser.

    bqplot's PanZoom sets the scale's min/max in the browser and sends them to Python as
    ``Date.toJSON`` strings ending in "Z"; bqscales' deserializer rejects the "Z" (ValueError:
    unconverted data remains), so Python never learnt of a pan or zoom: counts of the
    "visible range" ignored it and "reset zoom" (None -> None) sent nothing. Same model and
    view in the browser; only the Python side of the two traits differs.
    """

    min = _DateTrait(default_value=None, allow_none=True).tag(
        sync=True, to_json=_DATE_TO_JSON, from_json=_browser_date_from_json)
    max = _DateTrait(default_value=None, allow_none=True).tag(
        sync=True, to_json=_DATE_TO_JSON, from_json=_browser_date_from_json)


class VenuePicker(W.HBox):
    """Pick any subset of venues with one click each (a row of toggle buttons).

    Same interface as a ``SelectMultiple``: ``options`` (tuple of names) and ``value`` (tuple
    of the picked names, in ``options`` order); ``observe(..., "value")`` sees each change.
    A ``SelectMultiple`` needs Ctrl-click to pick more than one, which nobody guesses.
    """

    value = traitlets.Tuple()
    options = traitlets.Tuple()

    def __init__(self, options, value, description: str):
        self._buttons: list[W.ToggleButton] = []
        self._syncing = False
        self._label = W.Label(description, layout=W.Layout(width="90px"))
        super().__init__(layout=W.Layout(flex_flow="row wrap", align_items="center"))
        self.options = tuple(options)
        self.value = tuple(value)

    @traitlets.observe("options")
    def _on_options(self, _change) -> None:
        self._buttons = []
        for name in self.options:
            button = W.ToggleButton(value=name in self.value, description=name,
                                    tooltip=f"use {name}", layout=W.Layout(width="auto"))
            button.add_class("btcflow-venue-toggle")
            button.observe(self._on_button, "value")
            self._buttons.append(button)
        self.children = [self._label, *self._buttons]

    def _on_button(self, _change) -> None:
        if self._syncing:
            return
        picked = tuple(b.description for b in self._buttons if b.value)
        if picked != self.value:
            self.value = picked

    @traitlets.validate("value")
    def _valid_value(self, proposal):
        unknown = [v for v in proposal["value"] if v not in self.options]
        if unknown:
            raise traitlets.TraitError(f"venues {unknown} are not among the choices "
                                       f"{list(self.options)}")
        return tuple(v for v in self.options if v in proposal["value"])

    @traitlets.observe("value")
    def _on_value(self, _change) -> None:
        self._syncing = True
        try:
            for button in self._buttons:
                button.value = button.description in self.value
        finally:
            self._syncing = False


def slider_with_entry(slider: W.Widget, width: str = "400px") -> W.HBox:
    """A wide ``slider`` (its readout replaced) with a typed entry linked to it in the front
    end (``jslink``: it works without a kernel round trip). DOM class ``btcflow-entry``."""
    bounded = W.BoundedIntText if isinstance(slider, W.IntSlider) else W.BoundedFloatText
    entry = bounded(value=slider.value, min=slider.min, max=slider.max, step=slider.step,
                    layout=W.Layout(width="82px"))
    entry.add_class("btcflow-entry")
    slider.readout = False
    slider.layout.width = width
    for name in ("value", "min", "max"):
        W.jslink((slider, name), (entry, name))
    # jslink only links front ends: keep the Python objects in step too (tests, no browser)
    slider.observe(lambda c: setattr(entry, c["name"], c["new"]), ["min", "max", "value"])
    entry.observe(lambda c: setattr(slider, "value", c["new"]), "value")
    box = W.HBox([slider, entry], layout=W.Layout(align_items="center"))
    box.entry = entry
    return box
