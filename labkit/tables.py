"""Tables that fit the notebook: wide ones wrap instead of being cut.

    from labkit import tables
    tables.wrap(frame)                  # every cell and header shown whole, wrapped to fit
    tables.wrap(frame, precision=3)     # floats to 3 decimals

pandas shows a DataFrame as one line per row: a long text cell is cut at 50 characters
("..."), and a table wider than the notebook scrolls sideways, its right part out of sight.
`wrap` returns a pandas Styler instead: text cells wrap at word breaks (left-aligned, at most
`text_width` wide), header names wrap after their underscores (`p95_latency_seconds` becomes
three short lines), and nothing is truncated. It is a display only: the frame is unchanged, and
`wrap(frame).data` is the frame.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler


def breakable(label: object) -> str:
    """A header label as HTML that may wrap after an underscore or a slash."""
    text = html.escape(str(label))
    return text.replace("_", "_<wbr>").replace("/", "/<wbr>")


def _number(value: Any, precision: int | None) -> str:
    if isinstance(value, bool) or not isinstance(value, float):
        return html.escape(str(value))
    if value != value:  # NaN: the caller explains it; show it plainly
        return "NaN"
    return f"{value:.{precision}f}" if precision is not None else f"{value:,.6g}"


def wrap(frame: pd.DataFrame, *, precision: int | None = None, text_width: str = "32em") -> Styler:
    """`frame` as a Styler that wraps: full text, headers that break, no sideways scroll."""
    styler = frame.style
    styler.format(lambda v: _number(v, precision), escape=None)
    styler.format_index(breakable, axis=1, escape=None)
    styler.format_index(lambda v: html.escape(str(v)), axis=0, escape=None)
    from pandas.api.types import is_object_dtype, is_string_dtype

    text_columns = [
        c for c in frame.columns if is_string_dtype(frame[c]) or is_object_dtype(frame[c])
    ]
    styler.set_table_styles(
        [
            {"selector": "th", "props": "white-space: normal;"},
            # a long word or URL in a text cell may break anywhere rather than widen the table
            {"selector": "td", "props": "white-space: normal; overflow-wrap: anywhere;"},
            {"selector": "th.col_heading", "props": "vertical-align: bottom; min-width: 4em;"},
        ]
    )
    if text_columns:
        styler.set_properties(
            subset=text_columns,
            **{"text-align": "left", "min-width": "12em", "max-width": text_width},
        )
    return styler
