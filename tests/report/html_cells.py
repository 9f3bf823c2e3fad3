"""A small HTML table reader for the tests (stdlib html.parser): every <td>/<th> with the
data-* attributes of its table, row and cell, and its text."""

from __future__ import annotations

from html.parser import HTMLParser


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells, self.table, self.row, self.cell = [], {}, {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.table = attrs
        elif tag == "tr":
            self.row = attrs
        elif tag in ("td", "th"):
            self.cell = {"table": self.table, "row": self.row, "attrs": attrs, "text": ""}

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.cell["text"] = " ".join(self.cell["text"].split())
            self.cells.append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell["text"] += data


def table_cells(html: str) -> list[dict]:
    parser = _Cells()
    parser.feed(html)
    return parser.cells


def find_cell(cells, table_class, **where):
    """The one cell of a table (by class) whose table/row/cell data-* attributes match."""
    found = []
    for cell in cells:
        if cell["table"].get("class") != table_class:
            continue
        attrs = {**cell["table"], **cell["row"], **cell["attrs"]}
        if all(attrs.get(f"data-{key.replace('_', '-')}") == value for key, value in where.items()):
            found.append(cell)
    assert len(found) == 1, f"expected one {table_class} cell matching {where}, found {len(found)}"
    return found[0]
