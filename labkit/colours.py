"""One colour per node, the same in every figure, panel and page.

    node_colour(11)        -> "#00A08B"   (node ids from 1; "11" and "node 11" work too)

NODE_COLOURS is plotly's Dark24: 24 colours told apart on a white background, so a fleet of up
to 24 nodes never shows two nodes in one colour (past 24 they repeat; past the figures' legend
limit a node is named on hover anyway).
"""

from __future__ import annotations

NODE_COLOURS: tuple[str, ...] = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86",
    "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE",
    "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
)  # fmt: skip


def node_colour(node: object, index: int = 0) -> str:
    """The colour of a node id (1, "1", "node 1"); `index` for a name without digits."""
    digits = "".join(c for c in str(node) if c.isdigit())
    return NODE_COLOURS[(int(digits) - 1 if digits else index) % len(NODE_COLOURS)]
