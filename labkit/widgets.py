"""The failure-injection control panel for JupyterLab (ipywidgets), thin wiring over
labkit.panel:

    from labkit.widgets import ControlPanel
    ControlPanel(lab)          # pick nodes, a mode, a duration; Inject, Recover; a live view

The live view refreshes every second from an asyncio task on the kernel's loop; the HTTP
calls run in a worker thread, so the kernel is never blocked. Errors (lab not running, a node
down, a bad choice) show in the panel as a sentence, never as a traceback.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from labkit import panel
from labkit.errors import LabkitError
from labkit.failures import DEFAULT_DURATION_SECONDS, FAILURE_MODES

if TYPE_CHECKING:
    from labkit.lab import Lab


class ControlPanel:
    def __init__(
        self, lab: Lab | None = None, refresh_seconds: float = 1.0, auto_refresh: bool = True
    ) -> None:
        import ipywidgets as w

        if lab is None:
            from labkit.lab import Lab

            lab = Lab.connect_or_none()
        self.lab = lab
        self.refresh_seconds = refresh_seconds
        self.injection: panel.Injection | None = None
        ids = [str(i) for i in (lab.fleet.urls if lab else [])]
        self.nodes = w.SelectMultiple(
            options=["all", *ids], value=ids[:1], rows=min(6, len(ids) + 1), description="nodes"
        )
        self.failure = w.Dropdown(
            options=list(FAILURE_MODES), value="cpu_spike", description="failure"
        )
        self.duration = w.BoundedIntText(value=int(DEFAULT_DURATION_SECONDS), min=1, max=3600,
                                         description="seconds")  # fmt: skip
        self.inject_button = w.Button(description="Inject", button_style="danger", icon="bolt")
        self.recover_button = w.Button(description="Recover", button_style="success", icon="medkit")
        self.message = w.HTML()
        self.view = w.HTML()
        self.inject_button.on_click(self.inject)
        self.recover_button.on_click(self.recover)
        buttons = w.HBox([self.inject_button, self.recover_button])
        controls = w.HBox([self.nodes, w.VBox([self.failure, self.duration, buttons])])
        self.widget = w.VBox([controls, self.message, self.view])
        self.widget.add_class("labkit-control-panel")
        self._task: asyncio.Task[None] | None = None
        self.refresh()
        if auto_refresh:
            self.start()

    # -- actions ------------------------------------------------------------------------------

    def _say(self, text: str, problem: bool = False) -> None:
        import html

        color = "#b00020" if problem else "#1b5e20"
        self.message.value = f"<span style='color:{color}'>{html.escape(text)}</span>"

    def _have_lab(self) -> bool:
        if self.lab is None:
            self._say("No lab is running: start it with `make lab` (or `labkit up`).", problem=True)
        return self.lab is not None

    def inject(self, _: Any = None) -> None:
        if not self._have_lab():
            return
        assert self.lab is not None
        try:
            nodes = panel.choose_nodes(self.nodes.value, self.lab)
            self.injection = panel.inject(self.lab, nodes, self.failure.value, self.duration.value)
        except LabkitError as exc:
            self._say(str(exc), problem=True)
            return
        where = ", ".join(map(str, nodes))
        self._say(f"Injected {self.failure.value} on node {where} for {self.duration.value} s; "
                  f"watch for {panel.INTENDED[self.failure.value]}.")  # fmt: skip
        self.refresh()

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
        done = [f"node {n}: {', '.join(m)}" for n, m in ended.items() if m]
        self._say("Recovered " + "; ".join(done) if done else "Nothing to recover on those nodes.")
        self.refresh()

    # -- the live view ------------------------------------------------------------------------

    def refresh(self) -> panel.PanelState:
        state = panel.collect(self.lab, self.injection)
        self.view.value = panel.render(state)
        return state

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            state = await loop.run_in_executor(None, panel.collect, self.lab, self.injection)
            self.view.value = panel.render(state)
            await asyncio.sleep(self.refresh_seconds)

    def start(self) -> None:
        """Refresh every `refresh_seconds` on the running loop (in Jupyter); no loop, no-op."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            try:
                loop = asyncio.get_event_loop()
            except RuntimeError:
                return
            if not loop.is_running():
                return
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._loop())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
