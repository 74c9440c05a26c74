"""A live view's refresh loop, shared by the dashboard and the Alertmanager view:

    pacer = Pacer(fetch, show, refresh_seconds=1.0)   # fetch() off the loop, show(result) on it
    VBox([..., pacer.widget])                         # the heartbeat goes into the view
    pacer.start()                                     # in Jupyter; pacer.stop() ends it

`fetch` runs in a worker thread (HTTP, decoding), so the kernel stays free; `show` runs on the
kernel's loop, where widgets may be touched. The loop runs only while a page shows the view,
and only as fast as the page draws:

- `beat`: the browser side of the heartbeat ticks every HEARTBEAT_SECONDS while a page shows
  it. The kernel cannot see a tab close (Voilà keeps the kernel running), so the loop stops
  fetching when the ticks stop; the idle kernel is then culled by the server.
- the browser side also fits plotly figures to their panels (a figure drawn before the page
  laid it out keeps plotly's default 700 px width otherwise).
- `seq`/`ack`: each refresh sent is numbered; the browser echoes the number once it has
  everything before it. `behind` says the page has not drawn the refresh before the last one
  (a busy machine, no GPU): a view then leaves out its heavy parts (the dashboard's figures)
  and keeps its light ones (alerts, stats) current, so the page never falls behind.

Before any page has shown the view, it refreshes once (the first state a page reads carries
data), then waits for one; when a page (re)connects, `connected()` lets the view redraw in
full, since updates sent while a page attaches can be lost. Nothing here raises into the
kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
HEARTBEAT_SECONDS = 3.0  # how often an open page says it is there
PAUSE_AFTER_SECONDS = 20.0  # no word from any page for this long: stop fetching


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop a live view can run on: Jupyter's kernel loop; None outside it."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            return None
        return loop if loop.is_running() else None


def heartbeat_widget() -> Any:
    """A widget without a face: `beat` from the browser, `seq` from the kernel, `ack` back."""
    import anywidget
    import traitlets

    class Heartbeat(anywidget.AnyWidget):
        _esm = f"""
        function render({{ model, el }}) {{
          const ack = () => {{ model.set("ack", model.get("seq")); model.save_changes(); }};
          // plotly figures drawn before the page laid them out take a default 700 px width,
          // and in JupyterLab the figure's own element keeps it, wider than its panel (cut);
          // held to its panel's width, a resize event makes every responsive figure fit again
          if (!document.getElementById("labkit-fit")) {{
            const style = document.createElement("style");
            style.id = "labkit-fit";
            style.textContent =
              ".labkit-dashboard .js-plotly-plot {{ width: 100% !important; min-width: 0; }}";
            document.head.appendChild(style);
          }}
          const fit = () => {{
            let off = false;
            for (const gd of document.querySelectorAll(".labkit-dashboard .js-plotly-plot")) {{
              const panel = gd.parentElement;
              if (!panel) continue;
              const svg = gd.querySelector("svg.main-svg");
              const drawn = svg ? svg.getBoundingClientRect().width : panel.clientWidth;
              if (Math.abs(drawn - panel.clientWidth) > 4) off = true;
            }}
            if (off) window.dispatchEvent(new Event("resize"));
          }};
          // the tick acks too: a seq lost while the page connected cannot stall the kernel
          const tick = () => {{ model.set("beat", Date.now()); ack(); fit(); }};
          model.on("change:seq", ack);
          tick();
          setTimeout(fit, 1000);
          const timer = setInterval(tick, {HEARTBEAT_SECONDS * 1000:.0f});
          return () => {{ clearInterval(timer); model.off("change:seq", ack); }};
        }}
        export default {{ render }};
        """
        beat = traitlets.Float(0).tag(sync=True)
        seq = traitlets.Int(0).tag(sync=True)
        ack = traitlets.Int(0).tag(sync=True)

    return Heartbeat(layout={"display": "none"})


class Pacer(Generic[T]):
    def __init__(
        self,
        fetch: Callable[[], T],
        show: Callable[[T], None],
        refresh_seconds: float = 1.0,
        failed: Callable[[BaseException], T] | None = None,
        connected: Callable[[], None] | None = None,
    ) -> None:
        self.fetch = fetch
        self.show = show
        self.failed = failed
        self.connected = connected
        self.refresh_seconds = refresh_seconds
        self.widget = heartbeat_widget()
        self.last_beat: float | None = None
        self.widget.observe(self._beat, names="beat")
        self._task: asyncio.Task[None] | None = None

    def _beat(self, _: Any = None) -> None:
        was = self.watched
        self.last_beat = time.monotonic()
        if not was and self.connected is not None:
            # A page has (re)connected. Voilà attaches it after the notebook ran: changes made
            # while it was attaching may never have reached it, so the view redraws in full.
            with contextlib.suppress(Exception):
                self.connected()

    @property
    def watched(self) -> bool:
        """Has a page shown the view lately?"""
        if self.last_beat is None:
            return False
        return time.monotonic() - self.last_beat < PAUSE_AFTER_SECONDS

    @property
    def behind(self) -> bool:
        """Has the page not yet drawn the refresh before the last one? (Then send only what
        is light.)"""
        return bool(self.widget.seq - self.widget.ack > 1)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        first = True
        while True:
            started = time.monotonic()
            if not first and not self.watched:
                await asyncio.sleep(self.refresh_seconds)
                continue
            first = False
            try:
                result = await loop.run_in_executor(None, self.fetch)
            except Exception as exc:  # a bug in fetch must not end the loop
                if self.failed is None:
                    continue
                result = self.failed(exc)
            with contextlib.suppress(Exception):  # nor a display hiccup
                self.show(result)
            self.widget.seq += 1  # after the refresh's messages: acked once they are drawn
            await asyncio.sleep(max(0.05, self.refresh_seconds - (time.monotonic() - started)))

    def start(self) -> bool:
        """Refresh on the running loop (in Jupyter); False when there is no loop to run on."""
        loop = running_loop()
        if loop is None:
            return False
        if not self.running:
            self._task = loop.create_task(self._loop())
        return True

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


class PacedView(Generic[T]):
    """What every live view shares: its state collected and shown on demand (`refresh`), paced
    by `self.pacer` (`start`, `stop`), displayed as `self.widget`. A view defines `_collect`
    (I/O, off the kernel's loop) and `_show` (drawing)."""

    pacer: Pacer[T]
    widget: Any

    def _collect(self) -> T:
        raise NotImplementedError

    def _show(self, state: T) -> None:
        raise NotImplementedError

    def refresh(self) -> T:
        state = self._collect()
        self._show(state)
        return state

    def start(self) -> None:
        """Refresh every `refresh_seconds` while a page shows the view."""
        self.pacer.start()

    def stop(self) -> None:
        self.pacer.stop()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
