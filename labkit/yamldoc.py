"""Safe YAML for the files people hand labkit (scenarios, SLO specs, rule files), with bounds.

`yaml.safe_load` runs no code, but it still lets a file cost what it likes: an alias bomb
(a few lines whose aliases expand to gigabytes), nesting deep enough to overflow the
parser's recursion, any encoding the reader guesses, a key given twice (the last one wins,
silently). Here a document is built straight from the parser's events, one pass, no
recursion, and refused, with its line, when it:

- is not UTF-8 (the message names the byte offset and its line), or is larger than
  `max_bytes`;
- uses an alias (`*name`, merge keys included): every value is written out where it is
  used, so the document costs memory in proportion to its text;
- nests deeper than `max_depth` mappings and lists;
- gives a key twice in one mapping, or a key that is a mapping or a list;
- carries a tag other than YAML's own (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`,
  `!!map`, `!!seq`, `!!timestamp`);
- is not YAML at all (the parser's own words, with the line).

Scalars mean what they mean to `yaml.safe_load` (YAML 1.1: `yes` is true, `.nan` is a
float); keys are always the text written (`1:` gives the key "1"). Mappings come back as
`Mapping` (a dict that knows its line and each key's line), lists as `Sequence` (a list that
knows its line and each item's), so schema checks can name the line of whatever they refuse;
`unknown_keys` gives their messages for keys a schema does not know, with a "did you mean".

Every refusal is a labkit.errors.DocumentError (bad input: the CLI exits 2).
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import yaml
from yaml import events

from labkit.errors import DocumentError

MAX_BYTES = 16 * 1024 * 1024  # a scenario of 100,000 injections is about 6 MB
MAX_DEPTH = 64

_PARSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when installed
_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_TAGS = _SCALAR_TAGS | {_TAG + "map", _TAG + "seq"}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_RESOLVER = yaml.resolver.Resolver()
_CACHE_LIMIT = 50_000  # plain scalars remembered once resolved (node numbers, failure names)


class Mapping(dict[str, Any]):
    """A YAML mapping: a dict that knows the line (1-based) it starts on and each key's."""

    __slots__ = ("key_lines", "line")  # no __dict__: a large file has 100,000s of these

    def __init__(self, line: int) -> None:
        # empty already: dict.__init__ is not called, a large file makes 100,000s of these
        self.line = line
        self.key_lines: dict[str, int] = {}

    def key_line(self, key: str) -> int:
        """The line `key` is written on (the mapping's own line for a key it does not have)."""
        return self.key_lines.get(key, self.line)


class Sequence(list[Any]):
    """A YAML list: a list that knows the line (1-based) it starts on and each item's."""

    __slots__ = ("item_lines", "line")

    def __init__(self, line: int) -> None:
        # empty already, as a Mapping
        self.line = line
        self.item_lines: list[int] = []


def line_of(value: Any, key: str | None = None) -> int | None:
    """The line of a value this module built (of `key` in it, for a Mapping), else None."""
    if isinstance(value, Mapping) and key is not None:
        return value.key_line(key)
    return getattr(value, "line", None)


def load(
    data: bytes | str, source: str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> Any:
    """The one document in `data` (None when it is empty); refuses a file of several."""
    documents = load_all(data, source, max_bytes=max_bytes, max_depth=max_depth)
    if len(documents) > 1:
        starts = ", ".join(str(line) for line, _ in documents)
        raise DocumentError(
            source,
            documents[1][0],
            f"holds {len(documents)} YAML documents (starting on lines {starts}); "
            "one is expected: remove the `---` separators or split the file",
        )
    return documents[0][1] if documents else None


def load_all(
    data: bytes | str, source: str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> list[tuple[int, Any]]:
    """Every document in `data`, each as (the line it starts on, its value)."""
    text = _text(data, source, max_bytes)
    parser = _PARSER(text)
    try:
        with collector_paused():
            return _build(parser, source, max_depth)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        if mark is not None and mark.index >= len(text):  # the end: libyaml counts a line more
            line = max(1, mark.line)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        said = f"{context}: {problem}" if context else problem
        raise DocumentError(source, line, f"not valid YAML ({said})") from None
    finally:
        parser.dispose()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a document is built (and checked): a
    document is a tree (no alias, so no cycle), so the collector would only walk it again and
    again as it grows, a quarter of the time of a large file. Objects are still freed when
    no longer used; the collector resumes afterwards."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def unknown_keys(mapping: Mapping, allowed: Iterable[str], where: str) -> list[str]:
    """One problem per key of `mapping` not in `allowed`, each with its line, and the nearest
    allowed key when one is close ("did you mean schedule?"), else the allowed keys."""
    known = list(allowed)
    problems = []
    for key in mapping:
        if key in known:
            continue
        near = nearest_key(key, known)
        hint = f"did you mean {near!r}?" if near else "allowed: " + ", ".join(known)
        problems.append(f"line {mapping.key_line(key)}: {where}: unknown key {key!r}; {hint}")
    return problems


def nearest_key(key: str, allowed: Iterable[str]) -> str | None:
    """The allowed key `key` is most likely a misspelling of (unknown_keys' "did you mean"),
    or None when none is close."""
    near = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return near[0] if near else None


def _text(data: bytes | str, source: str, max_bytes: int) -> str:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise DocumentError(
            source,
            None,
            f"is {len(raw):,} bytes; at most {max_bytes:,} are read (a file this large is "
            "more likely a mistake than a document)",
        )
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DocumentError(source, 1, "is UTF-16; save it as UTF-8")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DocumentError(
            source,
            line,
            f"is not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start} cannot start "
            "or continue a UTF-8 character; save the file as UTF-8",
        ) from None


_NO_KEY = object()  # a mapping awaits its next key
_UNSEEN = object()  # a scalar not in the cache


def _build(parser: Any, source: str, max_depth: int) -> list[tuple[int, Any]]:
    """Documents from the parser's events: a stack of open containers, no recursion. The
    loop is written out flat, with the innermost container and its pending key in locals,
    and reads a line only where one is kept (keys, containers, list items): a
    100,000-injection scenario has 1.2 million events."""
    documents: list[tuple[int, Any]] = []
    stack: list[Any] = []  # the open containers around `container`, outermost first
    container: Any = None  # the innermost open container (None: at the document's root)
    in_mapping = False  # `container` is a Mapping
    key: Any = _NO_KEY  # in a mapping, the key awaiting its value
    root: Any = None
    start = 1
    cache: dict[str, Any] = {}
    keys: dict[str, str] = {}  # each key's text once, however many mappings give it
    get_event = parser.get_event
    scalar, mapping_start, sequence_start, mapping_end, sequence_end = (
        events.ScalarEvent,
        events.MappingStartEvent,
        events.SequenceStartEvent,
        events.MappingEndEvent,
        events.SequenceEndEvent,
    )
    while True:
        event = get_event()
        kind = type(event)
        if kind is scalar:
            if in_mapping and key is _NO_KEY:  # a key: always the text written
                if event.tag is not None:
                    _check_tag(event, source, event.start_mark.line + 1)
                key = event.value
                key = keys.setdefault(key, key)
                if key in container:
                    raise DocumentError(
                        source,
                        event.start_mark.line + 1,
                        f"gives the key {key!r} twice (first on line "
                        f"{container.key_line(key)}); keep one",
                    )
                container.key_lines[key] = event.start_mark.line + 1
                continue
            if event.tag is None and not event.style:  # plain, untagged: the common case
                made = cache.get(event.value, _UNSEEN)
                if made is _UNSEEN:
                    made = _scalar(event, cache, source, key if in_mapping else None)
            else:
                if event.tag is not None:
                    _check_tag(event, source, event.start_mark.line + 1)
                made = _scalar(event, cache, source, key if in_mapping else None)
            if in_mapping:
                container[key] = made
                key = _NO_KEY
            elif container is not None:
                container.append(made)
                container.item_lines.append(event.start_mark.line + 1)
            else:
                root = made
        elif kind is mapping_end or kind is sequence_end:
            container = stack.pop()
            in_mapping = type(container) is Mapping
            key = _NO_KEY  # a value has ended; in a mapping, a key comes next
        elif kind is mapping_start or kind is sequence_start:
            line = event.start_mark.line + 1
            if event.tag is not None:
                _check_tag(event, source, line)
            if len(stack) >= max_depth:
                raise DocumentError(
                    source, line, f"nests deeper than {max_depth} mappings and lists"
                )
            made = Mapping(line) if kind is mapping_start else Sequence(line)
            if in_mapping:
                if key is _NO_KEY:
                    raise DocumentError(
                        source, line, "a key is a mapping or a list; keys must be plain names"
                    )
                container[key] = made
            elif container is not None:
                container.append(made)
                container.item_lines.append(line)
            else:
                root = made
            stack.append(container)
            container, in_mapping, key = made, kind is mapping_start, _NO_KEY
        elif kind is events.AliasEvent:
            raise DocumentError(
                source,
                event.start_mark.line + 1,
                f"uses the alias *{event.anchor}; aliases (and `<<` merge keys) are not "
                "read here: write the value out where it is used",
            )
        elif kind is events.DocumentStartEvent:
            root, start = None, event.start_mark.line + 1
        elif kind is events.DocumentEndEvent:
            documents.append((start, root))
        elif kind is events.StreamEndEvent:
            return documents


def _check_tag(event: Any, source: str, line: int) -> None:
    tag = event.tag
    if tag is None or tag == "!":
        return
    if isinstance(event, events.ScalarEvent) and event.implicit[0]:
        return
    if isinstance(event, events.MappingStartEvent | events.SequenceStartEvent) and event.implicit:
        return
    if tag not in (_SCALAR_TAGS if isinstance(event, events.ScalarEvent) else _TAGS):
        raise DocumentError(
            source, line, f"carries the tag {tag}; only YAML's own (!!str, !!int, ...) are read"
        )


def _scalar(event: Any, cache: dict[str, Any], source: str, key: Any = None) -> Any:
    """A scalar's value as safe_load makes it; one it cannot make is refused naming `key`
    (the mapping key it is the value of, when it is one)."""
    value: str = event.value
    explicit = event.tag not in (None, "!") and not event.implicit[0]
    if explicit:
        tag = event.tag
    elif event.implicit[0] and (not event.style or event.tag == "!"):
        # plain, or quoted with the non-specific tag `!` (`! ""` is null: safe_load's
        # composer resolves those as plain): resolved as safe_load does
        if value in cache:
            return cache[value]
        tag = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    else:
        return value  # quoted or a block scalar: text
    try:
        made = _CONSTRUCTOR.yaml_constructors[tag](
            _CONSTRUCTOR, yaml.ScalarNode(tag, value, event.start_mark, event.end_mark)
        )
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        shown = value if len(value) <= 40 else f"{value[:20]}...({len(value):,} characters)"
        why = str(exc)
        if isinstance(exc, ValueError) and len(value) > sys.get_int_max_str_digits():
            why = f"Python reads whole numbers of up to {sys.get_int_max_str_digits():,} digits"
        kind = tag[len(_TAG) :]
        owner = f"{key}: " if isinstance(key, str) else ""
        raise DocumentError(
            source, event.start_mark.line + 1, f"{owner}{shown!r} is not a valid {kind}: {why}"
        ) from None
    if not explicit and len(cache) < _CACHE_LIMIT:
        cache[value] = made
    return made
