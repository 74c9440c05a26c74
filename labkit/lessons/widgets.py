"""The failure-injection control panel for JupyterLab (ipywidgets), thin wiring over
labkit.lessons.panel (the logic) and labkit.lessons.panel_html (its parts as HTML):

    from labkit.lessons.widgets import ControlPanel
    ControlPanel(lab)          # pick nodes, a mode, a duration; Inject, Recover; a live view

Laid out to fit a laptop screen with the buttons and the firing alerts in view together: the
controls, one toggle per node (the choice said in words beside them), the last injections
with their detection times (kept after recovery), one small tile per node, and the firing
alerts, one row each, saying where they are (Prometheus, Alertmanager, both), newest first.

The live view refreshes every second on the kernel's loop, the HTTP calls in a worker thread,
only while a page shows the panel (labkit.liveloop); a page that (re)attaches gets the whole
state again. Errors (lab not running, a node down, a bad choice, a duration out of range) show
in the panel as a sentence, never as a traceback; a bad value is refused, never clamped.

CSS classes (stable for browser tests): labkit-control-panel (the whole), labkit-inject and
labkit-recover (the buttons), labkit-duration, labkit-node-toggle (+ labkit-node-toggle-<id>),
labkit-nodes-all, labkit-nodes-none, labkit-chosen (the choice in words), labkit-message,
labkit-panel-history, labkit-panel-grid, labkit-panel-alerts; the HTML inside is described in
labkit.lessons.panel_html.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Any

from labkit.errors import LabkitError
from labkit.failures import DEFAULT_DURATION_SECONDS, FAILURE_MODES
from labkit.lessons import panel
from labkit.lessons import panel_html as view
from labkit.liveloop import PacedView, Pacer

if TYPE_CHECKING:
    from labkit.lab import Lab


def _css(widget: Any, *classes: str) -> Any:
    for c in classes:
        widget.add_class(c)
    return widget


class NodeChooser:
    """One toggle per node, `all` and `none`, and the choice in words. `value` is a tuple of
    ids as text (as a SelectMultiple's would be); setting ("all",) chooses every node."""

    def __init__(self, ids: list[int], chosen: list[int]) -> None:
        import ipywidgets as w

        self.ids = ids
        small = w.Layout(width="38px", min_width="38px", padding="0")
        self.toggles = {i: _css(w.ToggleButton(value=i in chosen, description=str(i),
                                               tooltip=f"node {i}", layout=small),
                                "labkit-node-toggle", f"labkit-node-toggle-{i}")
                        for i in ids}  # fmt: skip
        wide = w.Layout(width="52px", min_width="52px", padding="0")
        self.all_button = _css(w.Button(description="all", layout=wide), "labkit-nodes-all")
        self.none_button = _css(w.Button(description="none", layout=wide), "labkit-nodes-none")
        self.all_button.on_click(lambda _: self._set(ids))
        self.none_button.on_click(lambda _: self._set([]))
        self.words = _css(w.HTML(), "labkit-chosen")
        self._callbacks: list[Any] = []
        self._quiet = False
        for t in self.toggles.values():
            t.observe(self._changed, names="value")
        label = w.HTML("<span style='padding-right:6px'>nodes</span>")
        self.widget = w.HBox(
            [label, *self.toggles.values(), self.all_button, self.none_button, self.words],
            layout=w.Layout(flex_flow="row wrap", align_items="center"),
        )
        self._changed()

    @property
    def chosen(self) -> list[int]:
        return [i for i, t in self.toggles.items() if t.value]

    @property
    def value(self) -> tuple[str, ...]:
        return tuple(str(i) for i in self.chosen)

    @value.setter
    def value(self, choice: tuple[str, ...] | list[str]) -> None:
        if any(str(c).strip().lower() == "all" for c in choice):
            self._set(self.ids)
        else:
            self._set([int(c) for c in choice if str(c).isdigit()])

    def _set(self, ids: list[int]) -> None:
        self._quiet = True  # one _changed for the whole choice, not one per toggle
        try:
            for i, t in self.toggles.items():
                t.value = i in ids
        finally:
            self._quiet = False
        self._changed()

    def observe(self, callback: Any) -> None:
        self._callbacks.append(callback)

    def _changed(self, _: Any = None) -> None:
        if self._quiet:
            return
        for t in self.toggles.values():
            t.button_style = "info" if t.value else ""
        chosen = self.chosen
        if not chosen:
            text = "<span style='color:#b00020'>chosen: none (pick at least one node)</span>"
        elif chosen == self.ids and len(chosen) > 1:
            text = f"chosen: <b>all {len(chosen)} nodes</b>"
        else:
            text = f"chosen: <b>{view.node_words(chosen)}</b>"
        self.words.value = f"<span style='padding-left:8px'>{text}</span>"
        for callback in self._callbacks:
            callback()


class ControlPanel(PacedView[panel.PanelState]):
    def __init__(
        self, lab: Lab | None = None, refresh_seconds: float = 1.0, auto_refresh: bool = True
    ) -> None:
        import ipywidgets as w

        if lab is None:
            from labkit.lab import Lab

            lab = Lab.connect_or_none()
        self.lab = lab
        self.refresh_seconds = refresh_seconds
        self.history: list[panel.Record] = []
        self.state = panel.PanelState()
        ids = sorted(lab.fleet.urls) if lab is not None else []
        self.nodes = NodeChooser(ids, ids[:1])
        self.failure = w.Dropdown(options=list(FAILURE_MODES), value="cpu_spike",
                                  description="failure",
                                  layout=w.Layout(width="230px"))  # fmt: skip
        self.duration = _css(w.FloatText(value=DEFAULT_DURATION_SECONDS, description="duration (s)",
                                         style={"description_width": "initial"},
                                         layout=w.Layout(width="160px")),
                             "labkit-duration")  # fmt: skip
        self.inject_button = _css(w.Button(description="Inject", button_style="danger",
                                           icon="bolt"), "labkit-inject")  # fmt: skip
        self.recover_button = _css(w.Button(description="Recover", button_style="success",
                                            icon="medkit"), "labkit-recover")  # fmt: skip
        self.message = _css(w.HTML(), "labkit-message")
        self.parts = {name: _css(w.HTML(), f"labkit-panel-{name}", "labkit-panel-part")
                      for name in ("problem", "history", "grid", "alerts", "links")}  # fmt: skip
        self.inject_button.on_click(self.inject)
        self.recover_button.on_click(self.recover)
        self.duration.observe(self._check_duration, names="value")
        self.nodes.observe(self._draw)
        self.pacer: Pacer[panel.PanelState] = Pacer(
            self._collect, self._show, refresh_seconds,
            failed=lambda exc: panel.PanelState(error=f"the panel could not refresh: {exc!r}",
                                                now=time.time()),
            connected=self._redraw,
        )  # fmt: skip
        controls = w.HBox([self.failure, self.duration, self.inject_button, self.recover_button],
                          layout=w.Layout(flex_flow="row wrap", align_items="center"))  # fmt: skip
        self.widget = _css(
            w.VBox([self.pacer.widget, w.HTML(view.STYLE), controls, self.nodes.widget,
                    self.message, *self.parts.values()]),
            "labkit-control-panel",
        )  # fmt: skip
        if not (auto_refresh and self.pacer.start()):
            self.refresh()

    # -- actions ------------------------------------------------------------------------------

    def _say(self, text: str, problem: bool = False) -> None:
        color = "#b00020" if problem else "#1b5e20"
        self.message.value = f"<span style='color:{color}'>{html.escape(text)}</span>"

    def _have_lab(self) -> bool:
        if self.lab is None:
            self._say("No lab is running: start it with `make lab` (or `labkit up`).", problem=True)
        return self.lab is not None

    def _check_duration(self, _: Any = None) -> None:
        try:
            panel.check_seconds(self.duration.value)
        except LabkitError as exc:
            self._say(f"{exc}. Inject will refuse it.", problem=True)
        else:
            if "duration must be" in self.message.value:
                self.message.value = ""

    def inject(self, _: Any = None) -> panel.Injection | None:
        """Inject the chosen failure on the chosen nodes; the injection, or None (the message
        says why: nothing is injected on a bad choice)."""
        if not self._have_lab():
            return None
        assert self.lab is not None
        try:
            seconds = panel.check_seconds(self.duration.value)
            nodes = panel.choose_nodes(self.nodes.value, self.lab)
            injection = panel.inject(self.lab, nodes, self.failure.value, seconds)
        except LabkitError as exc:
            self._say(f"{exc}. Nothing was injected.", problem=True)
            return None
        self.history = panel.remember(self.history, injection)
        self._say(f"Injected {injection.failure} on {view.node_words(nodes)} for {seconds:g} s; "
                  f"watch for {injection.alert}.")  # fmt: skip
        self.refresh()
        return injection

    def recover(self, _: Any = None) -> None:
        if not self._have_lab():
            return
        assert self.lab is not None
        try:
            nodes = panel.choose_nodes(self.nodes.value, self.lab)
            ended = self.lab.recover(nodes, None)
        except LabkitError as exc:
            self._say(str(exc), problem=True)
            return
        panel.recovered(self.history, ended, time.time())
        done = [f"node {n}: {', '.join(m)}" for n, m in ended.items() if m]
        self._say("Recovered " + "; ".join(done) if done else "Nothing to recover on those nodes.")
        self.refresh()

    # -- the live view ------------------------------------------------------------------------

    def _collect(self) -> panel.PanelState:
        """What the lab shows now (in a worker thread: no widget is touched)."""
        try:
            return panel.collect(self.lab)
        except Exception as exc:  # an answer labkit did not expect: a sentence
            return panel.PanelState(error=f"the panel could not read the lab: {exc!r}",
                                    now=time.time())  # fmt: skip

    def _show(self, state: panel.PanelState) -> None:
        """Keep what the state says about the injections, then draw (on the kernel's loop)."""
        if not state.error:
            panel.update(self.history, state.prometheus)
        self.state = state
        self._draw()

    def _draw(self) -> None:
        parts = view.everything(self.state, self.history, set(self.nodes.chosen))
        for name, value in parts.items():
            if self.parts[name].value != value:
                self.parts[name].value = value

    def _redraw(self) -> None:
        """A page attached: send every part again (changes sent meanwhile may be lost)."""
        for part in [self.message, self.nodes.words, *self.parts.values()]:
            part.send_state()
        for toggle in self.nodes.toggles.values():
            toggle.send_state()
