"""An output's HTML (a DataFrame's) as the tables it holds, rebuilt from an allowlist.

Only table tags, their text, and numeric ``colspan``/``rowspan`` are kept: every other tag is
dropped (its text kept), a script's, style's or frame's text with it, and every other attribute
(``style``, ``class``, ``on*``, ``href``). What comes out is markup written here, so nothing an
output holds can run or load when the HTML report shows it.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser


class _TableRebuilder(HTMLParser):
    """Keeps the tables of an HTML fragment: their tags, text, colspan and rowspan; any other
    tag is dropped (its text kept), and a script's or style's text with it."""

    KEEP = frozenset({"table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td"})
    SILENT = frozenset({"script", "style", "template", "noscript", "iframe", "object", "svg", "math", "title", "textarea"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.silent = 0
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SILENT:
            self.silent += 1
        elif not self.silent and tag in self.KEEP:
            self.tables += tag == "table"
            spans = "".join(
                f' {k}="{v}"' for k, v in attrs if k in ("colspan", "rowspan") and v and v.isdigit() and int(v) <= 1000
            )
            self.out.append(f"<{tag}{spans}>")
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.SILENT:  # <script/> opens nothing
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SILENT:
            self.silent = max(0, self.silent - 1)
        elif not self.silent and tag in self.open:
            while self.open:
                opened = self.open.pop()
                self.out.append(f"</{opened}>")
                if opened == tag:
                    break

    def handle_data(self, data: str) -> None:
        if not self.silent and self.open:  # text outside the table (pandas' row and column counts) is left out
            self.out.append(html.escape(data))

    def result(self) -> str:
        self.close()
        return "".join(self.out) + "".join(f"</{t}>" for t in reversed(self.open))


def safe_table(fragment: str) -> str:
    """The tables of an output's HTML, rebuilt from an allowlist ('' when it holds none)."""
    rebuilt = _TableRebuilder()
    rebuilt.feed(fragment)
    text = rebuilt.result()
    return text if rebuilt.tables else ""
