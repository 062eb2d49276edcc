"""Self-contained HTML pages: inline CSS, images as base64 data URIs, no network.

Every report is one file a user can mail or open years later. Nothing here links out: no
external script, style sheet, font or image, so the page renders the same offline. A small
inline script marks, after the page has loaded, how many images it holds and how many are
broken (``data-images`` / ``data-broken-images`` on ``<body>``); the browser test reads them
back with ``chromium --dump-dom``.

Escaping is the default: pages are rendered by jinja2 templates (``reports/templates``) with
autoescape on, and every helper here escapes what it is given unless it is a
:class:`markupsafe.Markup`. Only HTML built by this package's own code is ``Markup`` (through
:func:`H`, which escapes each argument it formats in); text read from files never is.
"""

from __future__ import annotations

import base64
import html
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape

__all__ = ["esc", "H", "join", "Markup", "img_png", "table", "section", "page", "fmt_num", "write_index", "CSS"]

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


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


def render(template: str, **values: Any) -> Markup:
    """Render ``reports/templates/<template>`` with autoescape; the result is markup."""
    return Markup(_env().get_template(template).render(**values))


def esc(x: Any) -> Markup:
    """``x`` as escaped text (markup passes through unchanged)."""
    return escape(x if isinstance(x, Markup) else str(x))


def H(fmt: str, *args: Any, **kw: Any) -> Markup:
    """HTML built by our code: ``fmt`` is a literal template, every argument is escaped unless markup."""
    return Markup(fmt).format(*args, **kw)


def join(parts: Iterable[Any], sep: str = "") -> Markup:
    """Concatenate fragments; plain strings among them are escaped."""
    return Markup(sep).join(parts)


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


def img_png(png: bytes, alt: str, cls: str = "plot", title: str | None = None) -> Markup:
    """An ``<img>`` carrying the PNG inline as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    return render("img.html", cls=cls, alt=alt, title=title, data=data)


def table(
    headers: Sequence[Any],
    rows: Iterable[Sequence[Any]],
    *,
    row_classes: Sequence[str] | None = None,
) -> Markup:
    """A table; numbers are formatted, every other cell is escaped unless it is markup."""
    out_rows = []
    for i, row in enumerate(rows):
        cls = row_classes[i] if row_classes and row_classes[i] else ""
        cells = []
        for c in row:
            if isinstance(c, (int, float)) and not isinstance(c, bool):
                cells.append((True, fmt_num(c)))
            elif c is None:
                cells.append((True, "–"))
            else:
                cells.append((False, c))
        out_rows.append((cls, cells))
    return render("table.html", headers=list(headers), rows=out_rows)


def verdict_badge(verdict: Any) -> Markup:
    v = str(verdict or "unknown")
    return H('<span class="verdict v-{}">{}</span>', re.sub(r"[^a-z_]", "", v.lower()), v)


def section(sid: str, title: str, body: Any) -> Markup:
    return render("section.html", sid=sid, title=title, body=body)


def page(
    title: str, body: Any, *, sources: Sequence[str | os.PathLike] = (), kind: str = "report", subtitle: Any = ""
) -> str:
    """The whole document. ``sources``: every file the page was built from, listed at the end."""
    return (
        str(
            render(
                "page.html",
                title=title,
                body=body,
                sources=[str(s) for s in sources],
                kind=kind,
                subtitle=subtitle,
                css=Markup(CSS),
                script=Markup(CHECK_SCRIPT),
            )
        )
        + "\n"
    )


def _title_of(path: Path) -> tuple[str, str]:
    text = path.read_text(encoding="utf-8", errors="replace")[:4000]
    m = re.search(r"<title>(.*?)</title>", text, re.S)
    k = re.search(r'<meta name="ganbench-report" content="([^"]*)"', text)
    return (html.unescape(m.group(1)) if m else path.stem, html.unescape(k.group(1)) if k else "")


def is_our_page(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an HTML page ganbench wrote (its generator tag), so it may be replaced."""
    p = Path(path)
    if p.is_symlink() or not p.is_file():
        return False
    try:
        with open(p, "rb") as f:
            head = f.read(4000).decode("utf-8", errors="replace")
    except OSError:
        return False
    return '<meta name="generator" content="ganbench">' in head


def write_index(folder: str | os.PathLike, *, title: str | None = None) -> Path:
    """``folder/index.html`` linking every other report in ``folder`` (relative links only)."""
    from gans.base import UserError, atomic_write_text

    folder = Path(folder)
    out = folder / "index.html"
    if out.exists() and not is_our_page(out):
        raise UserError(f"{out}: exists and was not written by ganbench; refusing to overwrite it")
    order = {"comparison": 0, "bench": 1, "run": 2}
    items = []
    for p in sorted(folder.glob("*.html")):
        if p.name == "index.html" or not is_our_page(p):
            continue
        t, k = _title_of(p)
        items.append((order.get(k, 3), p.name, t, k))
    items.sort()
    rows = [(H('<a href="{}">{}</a>', quote(name), name), k or "report", t) for _, name, t, k in items]
    body = section(
        "reports",
        f"{len(items)} report(s) in this folder",
        table(["file", "kind", "title"], rows) if rows else Markup("<p>No reports here.</p>"),
    )
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
