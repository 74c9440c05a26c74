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
- `seq`/`ack`: each refresh sent is numbered; the browser echoes the number once it has
  everything before it. A page that draws slower than the kernel sends (a busy machine, no
  GPU) is sent nothing new until it catches up, so it never falls behind.

Before any page has shown the view, it refreshes once (the first state a page reads carries
data), then waits for one. Nothing here raises into the kernel.
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


def heartbeat_widget() -> Any:
    """A widget without a face: `beat` from the browser, `seq` from the kernel, `ack` back."""
    import anywidget
    import traitlets

    class Heartbeat(anywidget.AnyWidget):
        _esm = f"""
        function render({{ model, el }}) {{
          const tick = () => {{ model.set("beat", Date.now()); model.save_changes(); }};
          const ack = () => {{ model.set("ack", model.get("seq")); model.save_changes(); }};
          model.on("change:seq", ack);
          tick();
          ack();
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
    ) -> None:
        self.fetch = fetch
        self.show = show
        self.failed = failed
        self.refresh_seconds = refresh_seconds
        self.widget = heartbeat_widget()
        self.last_beat: float | None = None
        self.widget.observe(self._beat, names="beat")
        self._task: asyncio.Task[None] | None = None

    def _beat(self, _: Any = None) -> None:
        self.last_beat = time.monotonic()

    @property
    def watched(self) -> bool:
        """Has a page shown the view lately?"""
        if self.last_beat is None:
            return False
        return time.monotonic() - self.last_beat < PAUSE_AFTER_SECONDS

    @property
    def behind(self) -> bool:
        """Has the page not yet drawn the refresh before the last one?"""
        return bool(self.widget.seq - self.widget.ack > 1)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        first = True
        while True:
            started = time.monotonic()
            if not first and (not self.watched or self.behind):
                await asyncio.sleep(0.1 if self.watched else self.refresh_seconds)
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
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            try:
                loop = asyncio.get_event_loop()
            except RuntimeError:
                return False
            if not loop.is_running():
                return False
        if not self.running:
            self._task = loop.create_task(self._loop())
        return True

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
