"""Self-contained HTML pages: inline CSS, images as base64 data URIs, no network.

Every report is one file a user can mail or open years later. Nothing here links out: no
external script, style sheet, font or image, so the page renders the same offline. A small
inline script marks, after the page has loaded, how many images it holds and how many are
broken (``data-images`` / ``data-broken-images`` on ``<body>``); the browser test reads them
back with ``chromium --dump-dom``.
"""

from __future__ import annotations

import base64
import html
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

__all__ = ["esc", "img_png", "table", "section", "page", "fmt_num", "write_index", "CSS"]

CSS = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;font-size:15px;line-height:1.45;color:#1b1b1b;
 max-width:1220px;margin:0 auto;padding:18px 22px;background:#fff}
h1{font-size:26px;margin:6px 0 4px}h2{font-size:20px;border-bottom:2px solid #ddd;padding-bottom:3px;margin-top:30px}
h3{font-size:16px;margin:18px 0 6px}
.subtitle{font-size:17px;color:#333;margin-bottom:10px}.subtitle b{color:#000}
.dataset{display:inline-block;background:#1f4e79;color:#fff;padding:2px 10px;border-radius:4px;font-weight:bold}
table{border-collapse:collapse;margin:8px 0 14px;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#f1f3f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.regression td{background:#fde2e2}tr.improvement td{background:#e3f6e3}
.verdict{display:inline-block;padding:1px 8px;border-radius:3px;font-weight:bold;color:#fff}
.v-balanced,.v-healthy{background:#2e7d32}.v-d_dominates{background:#c62828}.v-g_dominates{background:#6a1b9a}
.v-oscillating{background:#ef6c00}.v-diverged{background:#000}.v-drifting{background:#f9a825;color:#000}
.v-partial{background:#ef6c00}.v-collapsed{background:#c62828}.v-unknown{background:#777}
img.plot{max-width:100%;height:auto;border:1px solid #eee;margin:4px 0}
.grids{display:flex;flex-wrap:wrap;gap:12px}.grids figure{margin:0;text-align:center}
.grids img{image-rendering:pixelated;border:1px solid #ddd;max-width:300px;height:auto}
figcaption{font-size:13px;color:#444}
.conclusion{background:#f4f8fc;border-left:5px solid #1f4e79;padding:8px 14px;margin:10px 0}
.note{color:#555;font-size:13px}.sources{font-size:12px;color:#444;font-family:monospace;word-break:break-all}
code{background:#f3f3f3;padding:0 3px}
"""

# Marks the page's images as loaded/broken once everything has loaded (read by the browser test).
CHECK_SCRIPT = """
window.addEventListener('load',function(){var imgs=document.images,bad=0;
for(var i=0;i<imgs.length;i++){
  if(!(imgs[i].complete&&imgs[i].naturalWidth>0)){bad++;imgs[i].setAttribute('data-broken','1');}
}
document.body.setAttribute('data-images',String(imgs.length));
document.body.setAttribute('data-broken-images',String(bad));
document.body.setAttribute('data-loaded','1');});
"""


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def fmt_num(x: Any, digits: int = 4) -> str:
    """Numbers for tables: 4 significant digits, thousands grouped; '–' for missing."""
    if x is None:
        return "–"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if x != x:
            return "nan"
        if x in (float("inf"), float("-inf")):
            return str(x)
        if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-3):
            return f"{x:.{digits - 1}e}"
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        return f"{x:.{digits}g}"
    return esc(x)


def img_png(png: bytes, alt: str, cls: str = "plot", title: str | None = None) -> str:
    """An ``<img>`` carrying the PNG inline as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    t = f' title="{esc(title)}"' if title else ""
    return f'<img class="{cls}" alt="{esc(alt)}"{t} src="data:image/png;base64,{data}">'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    row_classes: Sequence[str] | None = None,
    raw: bool = False,
) -> str:
    """A table; numbers are formatted, strings escaped (``raw=True``: cells are trusted HTML)."""
    out = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr>"]
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = []
        for c in row:
            if isinstance(c, (int, float)) and not isinstance(c, bool):
                cells.append(f'<td class="num">{fmt_num(c)}</td>')
            elif c is None:
                cells.append('<td class="num">–</td>')
            else:
                cells.append(f"<td>{c if raw else esc(c)}</td>")
        out.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def verdict_badge(verdict: str | None) -> str:
    v = verdict or "unknown"
    return f'<span class="verdict v-{esc(re.sub(r"[^a-z_]", "", v.lower()))}">{esc(v)}</span>'


def section(sid: str, title: str, body: str) -> str:
    return f'<section id="{esc(sid)}" data-section="{esc(sid)}"><h2>{esc(title)}</h2>\n{body}\n</section>'


def page(
    title: str, body: str, *, sources: Sequence[str | os.PathLike] = (), kind: str = "report", subtitle: str = ""
) -> str:
    """The whole document. ``sources``: every file the page was built from, listed at the end."""
    src = "".join(f"<li>{esc(s)}</li>" for s in sources)
    sub = f'<div class="subtitle">{subtitle}</div>' if subtitle else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="generator" content="ganbench"><meta name="ganbench-report" content="{esc(kind)}">'
        f"<title>{esc(title)}</title><style>{CSS}</style><script>{CHECK_SCRIPT}</script></head>\n"
        f"<body><h1>{esc(title)}</h1>{sub}\n{body}\n"
        f'<section id="sources" data-section="sources"><h2>Built from</h2><ul class="sources">{src}</ul>'
        '<p class="note">Generated by ganbench from these files only; re-render any time with the same '
        "command.</p></section>"
        "</body></html>\n"
    )


def _title_of(path: Path) -> tuple[str, str]:
    text = path.read_text(encoding="utf-8", errors="replace")[:4000]
    m = re.search(r"<title>(.*?)</title>", text, re.S)
    k = re.search(r'<meta name="ganbench-report" content="([^"]*)"', text)
    return (html.unescape(m.group(1)) if m else path.stem, k.group(1) if k else "")


def write_index(folder: str | os.PathLike, *, title: str | None = None) -> Path:
    """``folder/index.html`` linking every other report in ``folder`` (relative links only)."""
    from gans.base import atomic_write_text

    folder = Path(folder)
    order = {"comparison": 0, "bench": 1, "run": 2}
    items = []
    for p in sorted(folder.glob("*.html")):
        if p.name == "index.html":
            continue
        t, k = _title_of(p)
        items.append((order.get(k, 3), p.name, t, k))
    items.sort()
    rows = [(f'<a href="{esc(name)}">{esc(name)}</a>', esc(k or "report"), esc(t)) for _, name, t, k in items]
    body = section(
        "reports",
        f"{len(items)} report(s) in this folder",
        table(["file", "kind", "title"], rows, raw=True) if rows else "<p>No reports here.</p>",
    )
    out = folder / "index.html"
    atomic_write_text(
        out,
        page(
            title or f"ganbench reports — {folder.resolve().name}",
            body,
            sources=[str(folder / n) for _, n, _, _ in items],
            kind="index",
        ),
    )
    return out
