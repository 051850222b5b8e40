"""One declarative spec per console table: the page's HTML table and its CSV download from the same columns.

A Column says what a cell is once: its CSV header and value (for the
download, a plain value) and its HTML header and cell (a template fragment
rendered with `row`, for links, badges and formatting). A column may be in one
format only: the CSV carries raw figures a page does not show (coordinates,
log indexes), the page shows links and states a spreadsheet has no use for.

    ALERTS.csv(rows)                     -> the streamed CSV response (core.csvexport)
    {% data_table ALERTS rows %}         -> <table class="data">...</table> (console_tags)

Rows are the same objects for both formats, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.template import engines

from core.csvexport import csv_response


@dataclass(frozen=True)
class Column:
    header: str = ""  # the HTML header (omit, with cell, for a CSV-only column)
    cell: str | None = None  # template fragment for the <td>, with `row` in its context; None: CSV only
    csv: str | None = None  # the CSV header; None: HTML only
    value: Callable[[Any], Any] | None = None  # the CSV cell from the row
    css: str = ""  # class of the <th> and <td> ("num" right-aligns figures)

    def __post_init__(self):
        if (self.csv is None) != (self.value is None):
            raise ValueError(f"column {self.header or self.csv!r}: a CSV column needs both its header and value")
        if self.cell is None and self.csv is None:
            raise ValueError(f"column {self.header!r} is in neither format")


@dataclass(frozen=True)
class Table:
    name: str  # the `?table=` name of the download
    filename: str
    columns: tuple[Column, ...]
    dom_id: str = ""  # the <table id=...> scripts and browser tests find it by

    @property
    def csv_header(self) -> list[str]:
        return [c.csv for c in self.columns if c.csv is not None]

    def csv_row(self, row) -> list:
        return [c.value(row) for c in self.columns if c.value is not None]

    def csv(self, rows: Iterable, filename: str | None = None):
        """The download: `rows` (an iterable, streamed as it is read) through the CSV columns."""
        return csv_response(filename or self.filename, self.csv_header, (self.csv_row(r) for r in rows))

    @cached_property
    def html_columns(self) -> list[tuple[Column, Any]]:
        """(column, compiled cell template) for the columns the page shows, compiled once."""
        engine = engines["django"]
        return [(c, engine.from_string("{% load console_tags %}" + c.cell)) for c in self.columns if c.cell is not None]

    def html_rows(self, rows: Iterable) -> list[list[tuple[Column, str]]]:
        return [[(c, template.render({"row": row})) for c, template in self.html_columns] for row in rows]
