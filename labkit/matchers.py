"""Alertmanager's label matchers, as silences and routes use them (pure, no I/O).

parse_matchers('alertname=NodeLatencyBudgetBurn node=~"3|4" severity!=info')  -> [Matcher, ...]
parse_matchers(["alertname=NodeLatencyBudgetBurn", 'node="6"'])       -> one matcher per item
matchers_text(ms)  -> 'alertname="NodeLatencyBudgetBurn", node=~"3|4", severity!="info"'
matches_all(ms, labels)   -> bool (a missing label counts as "", as in Alertmanager)

The syntax is amtool's (and Alertmanager 0.25's `labels.ParseMatcher`): a label name, one of
=, !=, =~, !~, and a value, in double quotes if it holds spaces, commas or quotes (inside
quotes, \\" and \\\\ escape). One string may hold several matchers, separated by spaces or
commas, optionally wrapped in braces as Prometheus writes them. Regular expressions are
anchored at both ends, as Alertmanager anchors them. Bad input raises InvalidInput naming the
matcher, before anything is sent anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labkit.alerts import INTENDED
from labkit.errors import InvalidInput

OPS = ("=", "!=", "=~", "!~")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # Alertmanager 0.25's label names
SYNTAX = (
    "written as name=value, name!=value, name=~regex or name!~regex"
    f' (e.g. alertname={INTENDED["cpu_spike"]} node="6")'
)
# one matcher inside a longer string: name, operator, quoted or bare value, then a separator
_ONE = re.compile(
    r'\s*(?P<name>[^\s=!~,"{}]*)\s*(?P<op>=~|!~|!=|=)\s*'
    r'(?P<value>"(?:[^"\\]|\\.)*"|(?:[^\s,"=~][^\s,"]*)?)\s*(?:,|(?=\s)|\Z)',
    re.DOTALL,
)
_SINGLE = re.compile(
    r"\s*(?P<name>[^\s=!~]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*\Z", re.DOTALL
)
_BARE = re.compile(r"[A-Za-z0-9_.:/-]+\Z")  # a value amtool takes without quotes


def quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise InvalidInput(
                "matcher name", self.name,
                "a label name: a letter or _, then letters, digits or _",
                hint=f"Matchers are {SYNTAX}",
            )  # fmt: skip
        if self.op not in OPS:
            raise InvalidInput("matcher operator", self.op, "one of =, !=, =~, !~")
        if self.is_regex:
            try:
                re.compile(self.value)
            except re.error as exc:
                raise InvalidInput(
                    f"regular expression of {self.name}{self.op}", self.value,
                    "a valid regular expression", hint=f"Python's re says: {exc}",
                ) from None  # fmt: skip

    @property
    def is_regex(self) -> bool:
        return self.op in ("=~", "!~")

    @property
    def is_equal(self) -> bool:
        return self.op in ("=", "=~")

    def matches(self, value: str) -> bool:
        """Alertmanager's test on one label value (a missing label is "")."""
        if self.is_regex:
            hit = re.fullmatch(self.value, value, re.DOTALL) is not None
        else:
            hit = value == self.value
        return hit == self.is_equal

    @property
    def text(self) -> str:
        """As Alertmanager and amtool print it: name="value" with \\ " and newline escaped."""
        return f"{self.name}{self.op}{quote(self.value)}"

    @property
    def amtool_arg(self) -> str:
        """One argument for amtool: bare when that is unambiguous, else quoted."""
        if self.op == "=" and _BARE.match(self.value):
            return f"{self.name}={self.value}"
        return self.text

    def to_api(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex,
                "isEqual": self.is_equal}  # fmt: skip

    @classmethod
    def from_api(cls, m: Mapping[str, Any]) -> Matcher:
        regex, equal = bool(m.get("isRegex")), bool(m.get("isEqual", True))
        op = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}
        return cls(str(m["name"]), op[regex, equal], str(m["value"]))


def _unquote(raw: str, whole: str) -> str:
    if any(q in raw for q in TYPOGRAPHIC_QUOTES):  # pasted from a document or chat
        raise InvalidInput("matcher", whole, 'straight quotes (") around a value',
                           hint="“ ” ‘ ’ would be part of the value, which then matches "
                                "no alert")  # fmt: skip
    """A value as Alertmanager 0.25's ParseMatcher reads it: an opening quote needs its closing
    one, \\" \\\\ and \\n are unescaped, any other backslash is kept (so \\d survives)."""
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    out: list[str] = []
    escaped = closed = False
    for i, ch in enumerate(body):
        if escaped:
            escaped = False
            out.append("\n" if ch == "n" else ch if ch in '"\\' else "\\" + ch)
        elif ch == "\\" and i < len(body) - 1:
            escaped = True
        elif ch == '"':
            if not quoted or i < len(body) - 1:
                raise InvalidInput(
                    "matcher", whole, SYNTAX, hint="A quote inside a value needs a backslash"
                )
            closed = True
        else:
            out.append(ch)
    if quoted and not closed:
        raise InvalidInput(
            "matcher", whole, SYNTAX, hint="The value's opening quote has no closing one"
        )
    return "".join(out)


TYPOGRAPHIC_QUOTES = "“”‘’„«»"


def parse_matcher(text: str) -> Matcher:
    """Exactly one matcher (an amtool argument): everything after the operator is the value."""
    found = _SINGLE.match(text)
    if found is None:
        raise InvalidInput("matcher", text, SYNTAX)
    if not found["name"]:
        raise InvalidInput("matcher name", "", "a label name before the operator",
                           hint=f"In {text!r}: matchers are {SYNTAX}")  # fmt: skip
    if found["value"][:1] in ("=", "~"):  # node==6: a typo, not the value "=6"
        raise InvalidInput("matcher", text, SYNTAX, hint="Quote a value that starts with = or ~")
    return Matcher(found["name"], found["op"], _unquote(found["value"], text))


def parse_matchers(text: str | Sequence[str]) -> list[Matcher]:
    """Matchers from one string (several, separated by spaces or commas) or from a list of
    strings (one matcher each, as amtool's arguments). At least one is required."""
    if isinstance(text, str):
        body = text.strip()
        if body.startswith("{") and body.endswith("}"):
            body = body[1:-1]
        out, pos = [], 0
        while body[pos:].strip():
            found = _ONE.match(body, pos)
            if found is None or found.end() == pos:
                raise InvalidInput("matchers", body[pos:].strip(), SYNTAX)
            whole = found[0].strip().rstrip(",").strip()
            if not found["name"]:
                raise InvalidInput("matcher name", "", "a label name before the operator",
                                   hint=f"In {whole!r}: matchers are {SYNTAX}")  # fmt: skip
            out.append(Matcher(found["name"], found["op"], _unquote(found["value"], whole)))
            pos = found.end()
    elif isinstance(text, Sequence):
        out = [parse_matcher(str(item)) for item in text if str(item).strip()]
    else:
        raise InvalidInput("matchers", text, f"a string or a list of strings, {SYNTAX}")
    if not out:
        raise InvalidInput("matchers", text, f"at least one matcher, {SYNTAX}")
    return out


def matchers_text(matchers: Sequence[Matcher]) -> str:
    return ", ".join(m.text for m in matchers)


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(str(labels.get(m.name, ""))) for m in matchers)


def labels_text(labels: Mapping[str, Any]) -> str:
    """`a="1", b="2"`: a label set as Alertmanager prints it, sorted by name."""
    return ", ".join(f"{k}={quote(str(v))}" for k, v in sorted(labels.items()))


def equality_labels(text: str | Sequence[str]) -> dict[str, str]:
    """A label set written as matchers with = only (`severity=critical node=6`)."""
    ms = parse_matchers(text)
    bad = [m.text for m in ms if m.op != "="]
    if bad:
        raise InvalidInput("labels", bad[0], "name=value pairs (a label set has no !=, =~ or !~)")
    return {m.name: m.value for m in ms}
