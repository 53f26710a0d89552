"""Jinja2 filters for numbers, times, JSON and Markdown (output stays escaped)."""

import json
from datetime import datetime, timezone
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup

# Raw HTML off: whatever a user writes in Markdown comes out escaped, and
# markdown-it refuses javascript:/vbscript:/file: links on its own.
_MARKDOWN = MarkdownIt("commonmark", {"html": False})


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def format_relative(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    seconds = int(((now or datetime.now(timezone.utc)) - value).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return "just now"


def format_duration_ms(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1000:
        return f"{value:.0f} ms"
    return f"{value / 1000:.2f} s"


def format_number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def format_cost(value: float | None) -> str:
    if value is None:
        return "—"
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def pretty_json_text(text: str | None) -> str:
    """Text that holds a JSON object or array, pretty-printed; any other text as it is."""
    if not text or text.lstrip()[:1] not in ("{", "["):
        return text or ""
    try:
        return pretty_json(json.loads(text))
    except ValueError:
        return text


def render_markdown(value: str | None) -> Markup:
    """Markdown as HTML that is safe to insert: the renderer escapes all text and raw HTML."""
    return Markup(_MARKDOWN.render(value or ""))


def register_filters(env) -> None:
    env.filters.update(
        datetime=format_datetime,
        relative=format_relative,
        duration_ms=format_duration_ms,
        number=format_number,
        cost=format_cost,
        pretty_json=pretty_json,
        # Used by the chat partial, which the trace page and the annotation workbench share.
        pretty_json_text=pretty_json_text,
        markdown=render_markdown,
    )
