"""One declarative spec per console table: the page's HTML table and its CSV download from the same columns.

A Column says what a cell is once: its CSV header and value (for the
download, a plain value) and its HTML header and cell (a template fragment
rendered with `row`, for links, badges and formatting). A column may be in one
format only: the CSV carries raw figures a page does not show (coordinates,
log indexes), the page shows links and states a spreadsheet has no use for.

    ALERTS.csv(rows)                     -> the streamed CSV response (core.csvexport)
    {% data_table ALERTS rows %}         -> <table class="data">...</table> (console_tags)

Rows are the same objects for both formats, so the two cannot drift apart.
A column's value may be a key instead of a function: `value="serial"` reads
row["serial"] from dict rows, or, where the table names its `fields`, the
tuple position of "serial" (a subscript in the compiled row function): a big download
reads raw `values_list` tuples, and the page gets the same tuples as dicts.
With `key=` and a function, the function gets the key's value (or, for a tuple
of keys, the tuple of their values): `key="valid_from", value=iso`.
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
    value: Callable[[Any], Any] | str | None = None  # the CSV cell from the row, or the row's key for it
    css: str = ""  # class of the <th> and <td> ("num" right-aligns figures)
    title: str = ""  # template fragment for the <td title="..."> (a stamp's full time)
    key: str | tuple[str, ...] | None = None  # what of the row `value` (a function) gets; None: the row

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
    css: str = ""  # classes of the <table> beside "data" ("compact")
    fields: tuple[str, ...] = ()  # rows are tuples in this order (values_list); keys of columns name them
    row_css: str = ""  # template fragment for the <tr class="..."> ("{% if row.crossed %}crossed{% endif %}")
    empty: str = ""  # the one muted row shown when there are none (else an empty <tbody>)
    foot: str = ""  # template fragment for a <tfoot> row, with the tag's keywords in its context (a total)

    @property
    def csv_header(self) -> list[str]:
        return [c.csv for c in self.columns if c.csv is not None]

    @cached_property
    def csv_row(self) -> Callable[[Any], list]:
        """The row function of the download, built once from the columns.

        Written out as one expression (`[f0((r[1], r[2])), r[3], f1(r[5]), ...]`)
        and compiled, so that a million-row download of tuples costs what a
        hand-written generator does: a key is a subscript, not a call.
        """
        names: dict[str, Any] = {}
        cells = []
        for c in self.columns:
            if c.value is None:
                continue
            if isinstance(c.value, str):
                cells.append(self._subscript(c, c.value))
                continue
            fn = f"f{len(names)}"
            names[fn] = c.value
            if c.key is None:
                cells.append(f"{fn}(r)")
            elif isinstance(c.key, str):
                cells.append(f"{fn}({self._subscript(c, c.key)})")
            else:
                cells.append(f"{fn}(({', '.join(self._subscript(c, k) for k in c.key)},))")
        return eval(f"lambda r: [{', '.join(cells)}]", names)  # noqa: S307 - built from the spec's own keys

    def _subscript(self, column, key):
        if not self.fields:
            return f"r[{key!r}]"
        if key not in self.fields:
            raise ValueError(f"table {self.name!r}: column {column.csv!r} reads {key!r}, not in its fields")
        return f"r[{self.fields.index(key)}]"

    def csv(self, rows: Iterable, filename: str | None = None):
        """The download: `rows` (an iterable, streamed as it is read) through the CSV columns."""
        return csv_response(filename or self.filename, self.csv_header, map(self.csv_row, rows))

    @cached_property
    def html_columns(self) -> list[tuple[Column, Any]]:
        """(column, compiled cell template) for the columns the page shows, compiled once."""
        engine = engines["django"]
        return [(c, engine.from_string("{% load console_tags %}" + c.cell)) for c in self.columns if c.cell is not None]

    @cached_property
    def _html_titles(self) -> list[Any]:
        """The compiled <td title> template of each shown column, None where it has none."""
        engine = engines["django"]
        return [
            engine.from_string("{% load console_tags %}" + c.title) if c.title else None for c, _ in self.html_columns
        ]

    def html_rows(self, rows: Iterable) -> list[list[tuple[Column, str]]]:
        """(column, cell HTML) per shown cell of each row."""
        return [[(c, html) for c, html, _ in r["cells"]] for r in self.html_cells(rows)]

    @cached_property
    def _row_css(self):
        return engines["django"].from_string("{% load console_tags %}" + self.row_css) if self.row_css else None

    def html_foot(self, context: dict) -> str:
        return engines["django"].from_string("{% load console_tags %}" + self.foot).render(context) if self.foot else ""

    def html_cells(self, rows: Iterable, extra: dict | None = None) -> list[dict]:
        """Per row {"css": the <tr> class, "cells": (column, cell HTML, title or None) per shown cell}.

        Tuple rows become dicts of `fields` for the templates; `extra` is in every cell's context.
        """
        if self.fields:
            rows = (dict(zip(self.fields, r, strict=True)) for r in rows)
        out = []
        for row in rows:
            context = {**(extra or {}), "row": row}
            cells = [
                (c, cell.render(context), title.render(context) if title is not None else None)
                for (c, cell), title in zip(self.html_columns, self._html_titles, strict=True)
            ]
            out.append({"css": self._row_css.render(context).strip() if self._row_css else "", "cells": cells})
        return out
