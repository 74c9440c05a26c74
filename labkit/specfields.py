"""Typed fields of a decoded YAML document, each problem an InvalidInput naming the field (its
path, `slos[0].alerting.page_alert.disable`), the value and what is allowed.

    m = mapping(doc.get("alerting"), "slos[0].alerting", ("name", "labels", ...))
    flag(m.get("disable"), "slos[0].alerting.page_alert.disable")      True/False, not "yes"
    text(m.get("name"), "slos[0].alerting.name", "name: MyAlert")
    number(entry.get("objective"), "slos[0].objective")                 finite, not a bool

A key the mapping does not allow is refused with the nearest allowed one ("did you mean
labels?"): a misspelt key silently ignored would drop what the spec says.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from labkit.errors import InvalidInput


def _kind(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "nothing",
    }
    return next((n for t, n in names.items() if isinstance(value, t)), type(value).__name__)


def suggestion(key: str, allowed: Iterable[str]) -> str:
    """ "Did you mean labels?" for a near miss of an allowed key, else ""."""
    from labkit.yamldoc import nearest_key

    near = nearest_key(key, allowed)
    return f"Did you mean {near}?" if near else ""


#: keys a spec may hold that labkit refuses with a reason of their own (Sloth's plugins, rule
#: group intervals): known, so not "unknown", but never offered as a suggestion
REFUSED_KEYS = frozenset(("plugins", "slo_plugins", "interval"))


def refuse_unknown(data: dict[str, Any], allowed: Iterable[str], where: str) -> None:
    allowed = tuple(allowed)
    offered = [k for k in allowed if k not in REFUSED_KEYS]
    for key in data:
        if key not in allowed:
            field = f"{where}.{key}" if where else str(key)
            raise InvalidInput(
                field,
                data[key],
                "a key this format knows (" + ", ".join(offered) + "), not an unknown key",
                suggestion(str(key), offered),
            )


def mapping(
    value: Any, where: str, allowed: Iterable[str], *, need: bool = False
) -> dict[str, Any]:
    """A mapping with string keys among `allowed` ({} for an absent optional one)."""
    if value is None and not need:
        return {}
    allowed = tuple(allowed)
    if not isinstance(value, dict):
        raise InvalidInput(where, value, f"a mapping (of {', '.join(allowed)}), not {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise InvalidInput(where, key, "a mapping whose keys are strings")
    refuse_unknown(value, allowed, where)
    return value


def text(value: Any, where: str, example: str, *, need: bool = True) -> str:
    """A non-empty string (a number is not silently turned into one)."""
    if value is None and not need:
        return ""
    if not isinstance(value, str) or not value.strip():
        what = "present" if value is None else f"a non-empty string, not {_kind(value)}"
        raise InvalidInput(where, value, f"{what}, for example {example}")
    return value


def flag(value: Any, where: str) -> bool:
    """A YAML boolean (true/false); "yes" as a string is refused, as Sloth's YAML does."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInput(where, value, f"true or false (a boolean), not {_kind(value)}")
    return value


def number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(where, value, f"a number, not {_kind(value)}")
    try:
        out = float(value)
    except OverflowError:  # an int beyond a float
        out = math.inf
    if not math.isfinite(out):
        raise InvalidInput(where, value, "a finite number")
    return out


def scalar_text(value: Any, where: str) -> str:
    """A label value: a string, or a number or boolean written as YAML writes it (Sloth reads
    `tier: 2` as "2" and `generated: true` as "true")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(where, value, "a string or a finite number")
        text_ = repr(value)
        return text_[:-2] if text_.endswith(".0") else text_
    if isinstance(value, str):
        return value
    raise InvalidInput(where, value, f"a string (or a number or boolean), not {_kind(value)}")


def string_map(value: Any, where: str) -> dict[str, str]:
    """A mapping of names to scalar values, as strings ({} when absent)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(where, value, f"a mapping of names to values, not {_kind(value)}")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidInput(where, key, "a mapping whose keys are strings")
        out[key] = scalar_text(item, f"{where}.{key}")
    return out


def load_yaml_all(path: Path, field: str = "SPEC") -> list[Any]:
    """The documents of a YAML file (empty ones dropped), read by labkit.yamldoc: a file that
    cannot be read is InvalidInput naming `field`; one that is not UTF-8, not YAML, holds
    aliases, duplicate keys or deep nesting is a DocumentError naming its line."""
    from labkit import yamldoc

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(field, str(path), f"a readable file ({exc.strerror})") from None
    return [doc for _line, doc in yamldoc.load_all(data, str(path)) if doc is not None]


def load_yaml(path: Path, field: str) -> Any:
    """The one document of a YAML file."""
    docs = load_yaml_all(path, field)
    if len(docs) != 1:
        raise InvalidInput(field, str(path), f"a file of one YAML document, not {len(docs)}")
    return docs[0]


def line_of(docs: list[Any], field: str) -> int | None:
    """The line of a field path (`slos[0].alerting.name`, `document 2: slos[1].name`) in
    documents read by labkit.yamldoc: the deepest part of it the documents hold."""
    from labkit import yamldoc

    doc_match = re.match(r"document (\d+)(?:: |\.)", field)
    index = int(doc_match.group(1)) - 1 if doc_match else 0
    if not 0 <= index < len(docs):
        return None
    node: Any = docs[index]
    line = yamldoc.line_of(node)
    for key, item in re.findall(
        r"([^.\[\]]+)|\[(\d+)\]", field[doc_match.end() if doc_match else 0 :]
    ):
        if key and isinstance(node, yamldoc.Mapping) and key in node:
            line, node = node.key_line(key), node[key]
        elif item and isinstance(node, yamldoc.Sequence) and int(item) < len(node):
            line, node = node.item_lines[int(item)], node[int(item)]
        else:
            break
    return line
