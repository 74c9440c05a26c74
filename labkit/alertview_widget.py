"""The Alertmanager view for JupyterLab (ipywidgets), thin wiring over labkit.alertview:

    from labkit.alertview_widget import AlertmanagerView
    AlertmanagerView(lab)      # alert groups, silences (create, expire), routing, notifications

It refreshes every `refresh_seconds` from an asyncio task on the kernel's loop, the HTTP calls
in a worker thread, so the kernel is never blocked. Errors (lab not running, Alertmanager or
the receiver down, a bad matcher) show as a sentence, never as a traceback.

CSS classes, stable for browser tests (every part sits inside `.labkit-am-view`):

  labkit-am-view            the whole view (a VBox)
  labkit-am-status          problems as sentences (div.labkit-error), else where it reads from
  labkit-am-groups          "Alert groups": table.labkit-am-groups-table, one tr.labkit-am-alert
                            per alert (alertname, node, labels, state, since, receiver, grouped by);
                            the row also has labkit-am-state-active or labkit-am-state-suppressed
  labkit-am-silences        "Silences": one .labkit-am-silence row per silence (also
                            labkit-am-silence-active / -pending / -expired); active and pending
                            rows hold a button.labkit-am-expire ("Expire")
  labkit-am-silence-form    "New silence": four fields, each a div holding one <input>:
                            .labkit-am-matchers (text), .labkit-am-duration (a number of
                            seconds), .labkit-am-creator (text, "learner"), .labkit-am-comment
                            (text); then button.labkit-am-create ("Create silence"), the message
                            and the form's amtool command
  labkit-am-message         the last action's outcome: "Created silence <id> ...", "Expired
                            silence <id> ...", or the problem as a sentence (with the amtool
                            command of a successful action)
  labkit-am-routes          "Routing tree": pre.labkit-am-tree, the amtool commands, and a
                            label-set test: .labkit-am-route-labels (a div holding an <input>),
                            button.labkit-am-route-test ("Which receiver?"), and
                            .labkit-am-route-answer
  labkit-am-notifications   table.labkit-am-notifications-table, newest first
  labkit-amtool             a <code> with the amtool command for the action beside it
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from labkit import alertview as av
from labkit import alertview_html as view
from labkit.alerts import INTENDED
from labkit.amtool import Amtool, prom_duration
from labkit.errors import LabkitError
from labkit.liveloop import PacedView, Pacer
from labkit.matchers import equality_labels, matchers_text
from labkit.routing import receivers_for

if TYPE_CHECKING:
    from labkit.lab import Lab

NO_LAB = "No lab is running. Start it with `make lab` (or `labkit up`), then rerun this cell."
EXPIRED_SHOWN = 3


def _css(widget: Any, *classes: str) -> Any:
    for c in classes:
        widget.add_class(c)
    return widget


class AlertmanagerView(PacedView[av.ViewState]):
    def __init__(
        self, lab: Lab | None = None, refresh_seconds: float = 1.0, auto_refresh: bool = True
    ) -> None:
        import ipywidgets as w

        if lab is None:
            from labkit.lab import Lab

            lab = Lab.connect_or_none()
        self.lab = lab
        self.refresh_seconds = refresh_seconds
        self.am_url = lab.alertmanager_url if lab else ""
        self.receiver_url = lab.receiver_url if lab else ""
        self.amtool = Amtool(self.am_url)
        self.state: av.ViewState | None = None
        self.status = _css(w.HTML(), "labkit-am-status")
        self.groups = _css(w.HTML(), "labkit-am-groups")
        self.silence_rows = w.VBox()
        self.expire_buttons: dict[str, Any] = {}
        self._rows: dict[str, Any] = {}  # silence id -> its HTML
        self._row_keys: list[tuple[str, str]] = []
        self.silences = _css(
            w.VBox([w.HTML("<h4>Silences</h4>"), self.silence_rows, w.HTML(
                view.amtool_html(self.amtool.silence_query())
                + view.amtool_html(self.amtool.silence_query(expired=True)))]),
            "labkit-am-silences",
        )  # fmt: skip
        wide = w.Layout(width="min(100%, 720px)")
        self.matchers = _css(w.Text(description="matchers", layout=wide,
                                    placeholder=f'alertname={INTENDED["cpu_spike"]} node="6"'),
                             "labkit-am-matchers")  # fmt: skip
        self.duration = _css(w.FloatText(value=600.0, description="seconds"), "labkit-am-duration")
        self.creator = _css(w.Text(value="learner", description="creator"), "labkit-am-creator")
        self.comment = _css(w.Text(description="comment", layout=wide,
                                   placeholder="why silence it, and until what"),
                            "labkit-am-comment")  # fmt: skip
        self.create_button = _css(w.Button(description="Create silence",
                                           button_style="warning"), "labkit-am-create")  # fmt: skip
        self.message = _css(w.HTML(), "labkit-am-message")
        self.form_amtool = w.HTML()
        self.form = _css(
            w.VBox([w.HTML("<h4>New silence</h4>"), self.matchers,
                    w.HBox([self.duration, self.creator]), self.comment,
                    self.create_button, self.message, self.form_amtool]),
            "labkit-am-silence-form",
        )  # fmt: skip
        self.routes_html = w.HTML()
        self.route_labels = _css(w.Text(value="severity=critical", description="labels"),
                                 "labkit-am-route-labels")  # fmt: skip
        self.route_button = _css(w.Button(description="Which receiver?"),
                                 "labkit-am-route-test")  # fmt: skip
        self.route_answer = _css(w.HTML(), "labkit-am-route-answer")
        self.routes = _css(
            w.VBox([self.routes_html, w.HBox([self.route_labels, self.route_button]),
                    self.route_answer]),
            "labkit-am-routes",
        )  # fmt: skip
        self.notifications = _css(w.HTML(), "labkit-am-notifications")
        self.create_button.on_click(self.create)
        self.route_button.on_click(self.test_route)
        for field in (self.matchers, self.duration, self.creator, self.comment):
            field.observe(self._preview, names="value")
        self.pacer: Pacer[av.ViewState] = Pacer(
            self._collect, self._show, refresh_seconds, connected=self._redraw
        )
        self.widget = _css(
            w.VBox([self.pacer.widget, w.HTML(view.STYLE), self.status, self.groups,
                    self.silences, self.form, self.notifications, self.routes]),
            "labkit-am-view",
        )  # fmt: skip
        self._preview()
        self.refresh()
        if auto_refresh:
            self.start()

    # -- actions ------------------------------------------------------------------------------

    def _say(self, text: str, problem: bool = False, amtool: str = "") -> None:
        color = "#b00020" if problem else "#1b5e20"
        same = view.amtool_html(amtool, "the same with amtool") if amtool else ""
        self.message.value = f"<span style='color:{color}'>{html.escape(text)}</span>{same}"

    def create(self, _: Any = None) -> str | None:
        """Create the silence the form describes; its id, or None (the message says why)."""
        if self.lab is None:
            self._say(NO_LAB, problem=True)
            return None
        try:
            request = av.silence_request(self.matchers.value, self.duration.value,
                                         self.creator.value, self.comment.value)  # fmt: skip
            silence_id = av.create_silence(self.am_url, request)
        except LabkitError as exc:
            self._say(str(exc), problem=True)
            return None
        seconds = prom_duration(request.duration_seconds)
        self._say(f"Created silence {silence_id} for {seconds}: {matchers_text(request.matchers)}",
                  amtool=self.amtool.silence_add(request))  # fmt: skip
        self.refresh()
        return silence_id

    def expire(self, silence_id: str) -> None:
        if self.lab is None:
            self._say(NO_LAB, problem=True)
            return
        try:
            silence = av.expire_silence(self.am_url, silence_id)
        except LabkitError as exc:
            self._say(str(exc), problem=True)
            return
        self._say(f"Expired silence {silence.id}: {silence.matchers_text}",
                  amtool=self.amtool.silence_expire(silence.id))  # fmt: skip
        self.refresh()

    def test_route(self, _: Any = None) -> list[str]:
        """The receivers an alert with the labels typed beside the button goes to."""
        try:
            labels = equality_labels(self.route_labels.value)
            receivers = receivers_for(av.routes(self.am_url), labels)
        except LabkitError as exc:
            self.route_answer.value = f"<span style='color:#b00020'>{html.escape(str(exc))}</span>"
            return []
        self.route_answer.value = (
            f"goes to <b>{html.escape(', '.join(receivers))}</b>"
            + view.amtool_html(self.amtool.routes_test(labels))
        )
        return receivers

    def _preview(self, _: Any = None) -> None:
        try:
            request = av.silence_request(self.matchers.value, self.duration.value,
                                         self.creator.value, self.comment.value)  # fmt: skip
        except LabkitError:
            self.form_amtool.value = (
                "<div class='labkit-amtool-line'>amtool: the command shows here once the form "
                "is complete</div>"
            )
            return
        self.form_amtool.value = view.amtool_html(self.amtool.silence_add(request))

    # -- the live view ------------------------------------------------------------------------

    def _collect(self) -> av.ViewState:
        if self.lab is None:
            return av.ViewState("", "", errors=[NO_LAB])
        try:
            return av.collect(self.am_url, self.receiver_url)
        except Exception as exc:  # an answer labkit did not expect: a sentence, not a traceback
            problem = f"The view could not read Alertmanager's answer: {exc!r}"
            return av.ViewState(self.am_url, self.receiver_url, errors=[problem])

    def _show(self, state: av.ViewState) -> None:
        import ipywidgets as w

        self.state = state
        self.status.value = view.render_status(state)
        self.groups.value = view.render_groups(state)
        self.routes_html.value = view.render_routes(state)
        self.notifications.value = view.render_notifications(state)
        current = [s for s in state.silences if s.state != "expired"]
        shown = current + [s for s in state.silences if s.state == "expired"][:EXPIRED_SHOWN]
        keys = [(s.id, s.state) for s in shown]
        if keys != self._row_keys:  # rebuild rows only when silences come, go or change state
            rows, self._rows, self.expire_buttons = [], {}, {}
            for s in shown:
                self._rows[s.id] = w.HTML()
                cells = [self._rows[s.id]]
                if s.state != "expired":
                    button = _css(w.Button(description="Expire",
                                           layout=w.Layout(width="80px", min_width="80px")),
                                  "labkit-am-expire")  # fmt: skip
                    button.on_click(lambda _, sid=s.id: self.expire(sid))
                    self.expire_buttons[s.id] = button
                    cells.insert(0, button)
                rows.append(
                    _css(w.HBox(cells), "labkit-am-silence", f"labkit-am-silence-{s.state}")
                )
            self.silence_rows.children = rows or [w.HTML("<i>no silences</i>")]
            self._row_keys = keys
        for s in shown:
            self._rows[s.id].value = view.render_silence(s, self.am_url, state.now)

    def _redraw(self) -> None:
        """A page attached: rebuild the silence rows and resend every part on the next
        refresh (changes sent while it attached may never have reached it)."""
        self._row_keys = []
        for part in (self.status, self.groups, self.routes_html, self.notifications):
            part.send_state()
