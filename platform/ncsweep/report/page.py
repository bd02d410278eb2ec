"""One self-contained HTML page: plotly's JavaScript inline once, figures and tables after.

The page makes no network request: no CDN, no fonts, no images from elsewhere; links to
MLflow runs are plain anchors the reader may follow.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

__all__ = ["PageContext", "FAMILY_COLOURS", "colour", "esc", "table", "render_page", "fmt"]

FAMILY_COLOURS = {
    "ce": "#3b3b3b",
    "normface": "#1f77b4",
    "ntce": "#ff7f0e",
    "nonl": "#2ca02c",
    "scl": "#9467bd",
}
_EXTRA = itertools.cycle(["#8c564b", "#e377c2", "#17becf", "#bcbd22"])


def colour(family: str) -> str:
    if family not in FAMILY_COLOURS:
        FAMILY_COLOURS[family] = next(_EXTRA)
    return FAMILY_COLOURS[family]


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: float | None, spec: str = ".4f") -> str:
    return "–" if value is None else format(value, spec)


@dataclass
class PageContext:
    """Per page: unique figure ids and the plotly settings every figure shares."""

    _ids: itertools.count = field(default_factory=itertools.count)

    def figure(self, fig: go.Figure, height: int = 420) -> str:
        fig.update_layout(
            template="plotly_white",
            height=height,
            margin={"l": 60, "r": 20, "t": 40, "b": 50},
            font={"family": "Helvetica, Arial, sans-serif", "size": 13},
            legend={"orientation": "h", "y": -0.18},
        )
        return fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"fig{next(self._ids)}",
            config={
                "displaylogo": False,
                "responsive": True,
                "toImageButtonOptions": {"format": "svg"},
            },
        )


def table(
    header: Sequence[str], rows: Iterable[Sequence[object]], cls: str = "", raw: bool = False
) -> tuple[str, int]:
    """An HTML table (cells as ``str``, escaped unless ``raw``) and its number of body rows."""
    body = []
    for row in rows:
        cells = "".join(f"<td>{c if raw else esc(c)}</td>" for c in row)
        body.append(f"<tr>{cells}</tr>")
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    return (
        f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>',
        len(body),
    )


_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header.page{background:#23395b;color:#fff;padding:18px 32px}
header.page h1{margin:0;font-size:24px} header.page p{margin:4px 0 0;opacity:.85}
nav{padding:8px 32px;background:#e9eef5;font-size:14px} nav a{margin-right:14px;color:#23395b}
main{padding:8px 32px 40px}
section.panel{background:#fff;border:1px solid #dde3ea;border-radius:6px;margin:18px 0;
 padding:12px 18px}
section.panel h2{font-size:19px;margin:4px 0 2px} p.desc{color:#555;margin:2px 0 10px;font-size:14px}
.cols{display:grid;grid-template-columns:repeat(var(--n),minmax(0,1fr));gap:18px}
.cols h3{font-size:15px;margin:6px 0;color:#23395b}
table{border-collapse:collapse;font-size:13px;margin:6px 0 12px}
th,td{border-bottom:1px solid #e3e7ec;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f2f5f9} td.num,th.num{text-align:right}
.note{color:#777;font-style:italic;font-size:14px}
.kpi{display:inline-block;margin:4px 18px 8px 0} .kpi b{font-size:20px;display:block}
.status-failed{color:#b00020} .status-stopped{color:#8a6d00} .status-running{color:#1f6fb2}
.family-block{margin-bottom:14px}
"""


def render_page(title: str, subtitle: str, sections: list[tuple[str, str, str]]) -> str:
    """``sections``: ``(anchor, title, inner html)``; plotly JS is inlined once in <head>."""
    nav = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t, _ in sections)
    body = "".join(inner for _, _, inner in sections)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
        'img-src data: blob:; font-src data:">'
        f"<style>{_CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script>'
        f"</head><body><header class='page'><h1>{esc(title)}</h1><p>{esc(subtitle)}</p>"
        f"</header><nav>{nav}</nav><main>{body}</main></body></html>"
    )
