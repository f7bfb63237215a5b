"""Report rendering: Markdown with image files beside it, and one self-contained HTML file.

The runner assembles :class:`Section` objects (text, tables, figure paths); this module only renders
them. The HTML embeds every image as a base64 data URI and uses no external CSS or scripts, so it
opens offline and can be mailed as one file.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from blendaug.data.atomic import atomic_write_text

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
figure{margin:1em 0}figcaption{color:#555;font-size:.9em}code,pre{background:#f6f6f6;padding:2px 4px}
pre{padding:8px;overflow-x:auto}
"""


@dataclass
class Figure:
    path: Path
    caption: str = ""


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    preformatted: str = ""


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.4g}"
    return str(value)


def table_markdown(df: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def table_html(df: pd.DataFrame, table_id: str = "") -> str:
    ident = f' id="{html.escape(table_id)}"' if table_id else ""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_markdown(title: str, sections: list[Section], out_dir: Path) -> str:
    parts = [f"# {title}", ""]
    for sec in sections:
        parts += [f"## {sec.title}", ""]
        parts += [p + "\n" for p in sec.paragraphs]
        for caption, df in sec.tables:
            if caption:
                parts.append(f"**{caption}**\n")
            parts += [table_markdown(df), ""]
        for fig in sec.figures:
            rel = Path(os.path.relpath(fig.path, out_dir)).as_posix()
            parts += [f"![{fig.caption}]({rel})", f"*{fig.caption}*" if fig.caption else "", ""]
        if sec.preformatted:
            parts += ["```", sec.preformatted.rstrip(), "```", ""]
    return "\n".join(parts)


def _data_uri(path: Path) -> str:
    mime = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_html(title: str, sections: list[Section]) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    for i, sec in enumerate(sections):
        parts.append(f"<h2>{html.escape(sec.title)}</h2>")
        parts += [f"<p>{html.escape(p)}</p>" for p in sec.paragraphs]
        for j, (caption, df) in enumerate(sec.tables):
            if caption:
                parts.append(f"<p><b>{html.escape(caption)}</b></p>")
            parts.append(table_html(df, table_id="results" if (i, j) == (0, 0) else ""))
        for fig in sec.figures:
            parts.append(f"<figure><img src='{_data_uri(fig.path)}' alt='{html.escape(fig.caption)}'>"
                         f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>")
        if sec.preformatted:
            parts.append(f"<pre>{html.escape(sec.preformatted)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(title: str, sections: list[Section], out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir``; figures must already be on disk."""
    md, htm = out_dir / "report.md", out_dir / "report.html"
    atomic_write_text(md, render_markdown(title, sections, out_dir))
    atomic_write_text(htm, render_html(title, sections))
    return md, htm
