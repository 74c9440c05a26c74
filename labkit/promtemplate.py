"""Alert label and annotation values are Go templates (Prometheus expands them when an alert
fires, and `promtool check rules` parses them): a check, without Go, that a value parses.

    check("{{ $labels.node }} burns {{ $value | humanizePercentage }}", "annotations.summary")
    check("{{ if $value }}", ...)     InvalidInput: ... the actions labkit can check are ...

It accepts a safe subset of the template language and refuses the rest with what it accepts,
so that whatever it accepts Prometheus parses too: text, comments (`{{/* ... */}}`), and
actions made of pipelines (`a | f | g`) whose commands are an operand alone or a function
followed by operands; operands are the variables Prometheus defines (`$`, `$labels`,
`$value`, `$externalLabels`, `$externalURL`) and `.`, each with field names after it
(`$labels.node`), strings ("..." with \\ \\" \\n \\t escapes, or `...`), numbers, true and
false, and parenthesised pipelines; functions are Go's and Prometheus' own. Control
structures (if, range, with, define...) and variable declarations are refused: they are
rare in rule labels and annotations, and a subset checked is better than a file Prometheus
refuses to load. A literal `{{` in text is written `{{ "{{" }}`.
"""

from __future__ import annotations

import math
import re

from labkit.errors import InvalidInput

#: Go's text/template builtins and Prometheus' template functions (promtool 2.42 and later).
_GO = "and call html index slice js len not or print printf println urlquery eq ge gt le lt ne"
_PROMETHEUS = (
    "query first label value strvalue args reReplaceAll safeHtml match title toUpper toLower "
    "graphLink tableLink sortByLabel humanize humanize1024 humanizeDuration humanizePercentage "
    "humanizeTimestamp pathPrefix externalURL parseDuration stripPort"
)
FUNCTIONS = frozenset(f"{_GO} {_PROMETHEUS}".split(" "))
VARIABLES = frozenset({"$", "$labels", "$value", "$externalLabels", "$externalURL"})
ALLOWED = (
    "text with template actions labkit can check: {{ $labels.<name> }}, {{ $value }}, "
    '{{ $value | humanize }}, {{ printf "%.2f" $value }}, comments; a literal {{ written '
    '{{ "{{" }} (no if/range/with/define, no variables of its own)'
)

_TOKEN = re.compile(
    r"""(?P<space>[ \t]+)
      | (?P<string>"(?:[^"\\\n]|\\[\\"nt])*")
      | (?P<raw>`[^`]*`)
      | (?P<number>-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.]))
      | (?P<variable>\$(?:[A-Za-z_][A-Za-z0-9_]*)?(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
      | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[|()])
    """,
    re.VERBOSE,
)


class _Refused(Exception):
    pass


def check(value: str, where: str) -> str:
    """`value` if Prometheus parses it as a template, else InvalidInput naming `where`."""
    if "{{" not in value:
        return value
    try:
        _text(value)
    except _Refused as exc:
        raise InvalidInput(where, value, ALLOWED, f"Here: {exc}.") from None
    return value


def _text(value: str) -> None:
    at = 0
    while (start := value.find("{{", at)) >= 0:
        end = _action_end(value, start + 2)
        body = value[start + 2 : end]
        at = end + 2
        if body.startswith("- ") or body.startswith("-\t"):
            body = body[2:]
        if body.endswith(" -") or body.endswith("\t-"):
            body = body[:-2]
        if body.startswith("/*"):
            if not body.endswith("*/") or len(body) < 4 or "*/" in body[2:-2]:
                raise _Refused("a comment must end with its only */, just before }}")
            continue
        _pipeline(_tokens(body), 0, top=True)


def _action_end(value: str, at: int) -> int:
    """The index of the }} closing the action whose body starts at `at` (quotes skipped)."""
    i = at
    while i < len(value):
        if value.startswith("}}", i):
            return i
        ch = value[i]
        if ch in '"`':
            close = value.find(ch, i + 1) if ch == "`" else _string_end(value, i)
            if close < 0:
                raise _Refused("a string in an action is not closed")
            i = close + 1
            continue
        if ch == "\n" and not value.startswith("/*", at):
            raise _Refused("an action spans lines")
        i += 1
    raise _Refused("an action opened with {{ is not closed with }}")


def _string_end(value: str, start: int) -> int:
    i = start + 1
    while i < len(value):
        if value[i] == "\\":
            i += 2
            continue
        if value[i] == '"':
            return i
        if value[i] == "\n":
            return -1
        i += 1
    return -1


def _tokens(body: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    at = 0
    spaced = True
    while at < len(body):
        m = _TOKEN.match(body, at)
        if not m:
            raise _Refused(f"cannot read {body[at : at + 12]!r} in an action")
        kind = m.lastgroup or ""
        if kind == "number" and not _go_number(m.group()):
            raise _Refused(f"the number {m.group()} is too large for Go")
        if kind == "space":
            spaced = True
        else:
            if not spaced and kind != "punct" and out[-1][0] != "punct":
                raise _Refused(f"write a space before {m.group()!r}")
            out.append((kind, m.group()))
            spaced = False
        at = m.end()
    return out


def _pipeline(tokens: list[tuple[str, str]], at: int, *, top: bool) -> int:
    """Reads `command ('|' command)*` from `at`; returns where it stopped."""
    stage = 1
    while True:
        at = _command(tokens, at, stage)
        if at < len(tokens) and tokens[at] == ("punct", "|"):
            at += 1
            stage += 1
            continue
        break
    if top and at != len(tokens):
        raise _Refused(f"unexpected {tokens[at][1]!r}")
    return at


def _command(tokens: list[tuple[str, str]], at: int, stage: int) -> int:
    if at >= len(tokens) or tokens[at] in (("punct", "|"), ("punct", ")")):
        raise _Refused("an action or a pipeline stage is empty")
    kind, text = tokens[at]
    is_function = kind == "word" and text in FUNCTIONS
    if kind == "word" and not is_function and text not in ("true", "false"):
        raise _Refused(f"{text!r} is not a function labkit knows or a keyword it accepts")
    if stage > 1 and not is_function:
        raise _Refused("every stage after a | must start with a function")
    at = _operand(tokens, at) if not is_function else at + 1
    while at < len(tokens) and tokens[at] not in (("punct", "|"), ("punct", ")")):
        if not is_function:
            raise _Refused(f"{text!r} is not a function: it takes no arguments")
        at = _operand(tokens, at)
    return at


def _operand(tokens: list[tuple[str, str]], at: int) -> int:
    kind, text = tokens[at]
    if kind == "variable":
        name = text.partition(".")[0]
        if name not in VARIABLES:
            raise _Refused(f"{name} is not a variable Prometheus defines")
        return at + 1
    if kind in ("string", "raw", "number", "field"):
        return at + 1
    if kind == "word" and text in ("true", "false"):
        return at + 1
    if (kind, text) == ("punct", "("):
        at = _pipeline(tokens, at + 1, top=False)
        if at >= len(tokens) or tokens[at] != ("punct", ")"):
            raise _Refused("a ( is not closed")
        return at + 1
    if kind == "word":
        raise _Refused(f"{text!r} is not a value (functions come first in a command)")
    raise _Refused(f"unexpected {text!r}")


def _go_number(text: str) -> bool:
    """Whether Go reads the literal: an integer within 64 bits, or a finite float."""
    if re.fullmatch(r"-?\d+", text):
        return -(2**63) <= int(text) < 2**64
    return math.isfinite(float(text))
