"""Controls and the shared date scale of the dashboards (private module).

* :class:`ZoomDateScale` — the shared date scale whose pan/zoom reaches Python;
* :class:`VenuePicker` — pick venues with one click each;
* :func:`slider_with_entry` — a wide slider with a typed entry linked to it;
* :class:`SharedLooks` — one ``Layout``/style model per look, shared by the widgets that
  look alike (fewer models for the browser to create before the first chart);
* :func:`lazy_tabs` — tabs whose panels are built the first time they are selected.
"""
from __future__ import annotations

import datetime
from typing import Callable

import bqplot as bq
import ipywidgets as W
import traitlets
from ipywidgets.widgets.widget_bool import ToggleButtonStyle
from ipywidgets.widgets.widget_description import DescriptionStyle


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


class SharedLooks:
    """One ``Layout`` or style model per distinct look, handed to every widget that has it.

    ipywidgets gives each widget its own ``Layout`` and style model unless one is passed in,
    and every model is sent to the browser and created there before the page can draw its
    first chart (a page with 13 slider + entry pairs had ~50 identical ones). Several widgets
    may share one such model (each view applies it); so a shared look must never be changed
    for one widget -- give that widget its own ``W.Layout`` instead.

    >>> looks = SharedLooks()
    >>> looks.layout(width="auto") is looks.layout(width="auto")
    True
    """

    def __init__(self):
        self._made: dict[tuple, W.Widget] = {}

    def layout(self, **traits) -> W.Layout:
        """The shared ``W.Layout(**traits)``."""
        return self.style(W.Layout, **traits)

    def style(self, cls: type, **traits) -> W.Widget:
        """The shared ``cls(**traits)`` (a style class such as ``W.SliderStyle``, or Layout)."""
        key = (cls, tuple(sorted(traits.items())))
        if key not in self._made:
            self._made[key] = cls(**traits)
        return self._made[key]


class VenuePicker(W.HBox):
    """Pick any subset of venues with one click each (a row of toggle buttons).

    Same interface as a ``SelectMultiple``: ``options`` (tuple of names) and ``value`` (tuple
    of the picked names, in ``options`` order); ``observe(..., "value")`` sees each change.
    A ``SelectMultiple`` needs Ctrl-click to pick more than one, which nobody guesses.
    """

    value = traitlets.Tuple()
    options = traitlets.Tuple()

    def __init__(self, options, value, description: str, looks: SharedLooks | None = None):
        self._buttons: list[W.ToggleButton] = []
        self._syncing = False
        self._looks = looks or SharedLooks()
        self._label = W.Label(description, layout=self._looks.layout(width="90px"))
        super().__init__(layout=self._looks.layout(flex_flow="row wrap", align_items="center"))
        self.options = tuple(options)
        self.value = tuple(value)

    @traitlets.observe("options")
    def _on_options(self, _change) -> None:
        self._buttons = []
        for name in self.options:
            button = W.ToggleButton(value=name in self.value, description=name,
                                    tooltip=f"use {name}", layout=self._looks.layout(width="auto"),
                                    style=self._looks.style(ToggleButtonStyle))
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


def slider_with_entry(slider: W.Widget, width: str = "400px",
                      looks: SharedLooks | None = None) -> W.HBox:
    """A wide ``slider`` (its readout replaced) with a typed entry linked to it. The value is
    linked in the front end (``jslink``: the entry follows a drag without a kernel round
    trip); ``min``/``max`` only ever change in Python, where an observer copies them to the
    entry (and keeps the Python objects in step for tests, without a browser). Entries and
    boxes take their layout and style from ``looks``. DOM class ``btcflow-entry``."""
    looks = looks or SharedLooks()
    bounded = W.BoundedIntText if isinstance(slider, W.IntSlider) else W.BoundedFloatText
    entry = bounded(value=slider.value, min=slider.min, max=slider.max, step=slider.step,
                    layout=looks.layout(width="82px"), style=looks.style(DescriptionStyle))
    entry.add_class("btcflow-entry")
    slider.readout = False
    if slider.layout.width != width:      # a slider built with its own layout
        slider.layout.width = width
    W.jslink((slider, "value"), (entry, "value"))
    slider.observe(lambda c: setattr(entry, c["name"], c["new"]), ["min", "max", "value"])
    entry.observe(lambda c: setattr(slider, "value", c["new"]), "value")
    box = W.HBox([slider, entry], layout=looks.layout(align_items="center"))
    box.entry = entry
    return box


def lazy_tabs(panels: dict[str, Callable[[], W.Widget]], *, selected: int | None = 0,
              guard=None, eager: bool = False) -> W.Tab:
    """A ``W.Tab`` titled by ``panels``' keys whose panel is built by its function the first
    time the tab is selected (``selected``: the one built and shown at once; None: none;
    ``eager``: every panel built now -- for a page that may outlive its kernel, e.g. a
    notebook exported as a static snapshot, where nothing could be built later).

    A tab nobody opens costs no widget models and no DOM in the browser. Each tab holds a
    ``VBox`` slot that receives the built panel (``tabs.built`` maps title -> panel); with
    ``guard`` (a ``GuardedRunner``) an error while building is shown in its Output, without it
    the error is shown in the tab."""
    titles = list(panels)
    looks = SharedLooks()
    slots = [W.VBox(layout=looks.layout()) for _ in titles]
    tabs = W.Tab(children=slots, titles=titles)
    tabs.built = {}

    def build(index: int | None) -> None:
        if index is None or titles[index] in tabs.built:
            return
        title = titles[index]
        try:
            panel = panels[title]()
        except Exception as exc:          # shown in the tab, never lost
            if guard is not None:
                raise
            panel = W.HTML(f"<p class='btcflow-view-error'>{title}: "
                           f"{type(exc).__name__}: {exc}</p>")
        tabs.built[title] = panel
        slots[index].children = [panel]

    def on_select(change) -> None:
        if guard is None:
            build(change["new"])
        else:
            guard.run(lambda: build(change["new"]))

    for index in range(len(titles)) if eager else [selected]:
        build(index)
    tabs.selected_index = selected        # (the children setter selected tab 0)
    tabs.observe(on_select, "selected_index")
    return tabs
