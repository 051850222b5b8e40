"""CSV downloads and keyset pagination, shared by every page.

Every chart and table of the console can be downloaded as CSV: the page's
URL with `?format=csv&table=<name>`, written by the table's spec
(console.tablespec: Table.csv is the console's one way to a CSV response).
Large tables are streamed in keyset chunks (`id > last`), so a download of a
million rows never holds them all and never counts them.
"""

from django.core.exceptions import BadRequest

CHUNK = 5000
PAGE_SIZE = 100


def wants_csv(request):
    return request.GET.get("format") == "csv"


def keyset_iter(queryset, chunk=CHUNK):
    """Every row of `queryset` (ordered by id here), fetched `chunk` at a time by id cursor."""
    last = None
    while True:
        qs = queryset.order_by("id")
        if last is not None:
            qs = qs.filter(id__gt=last)
        rows = list(qs[:chunk])
        if not rows:
            return
        yield from rows
        last = rows[-1].id if hasattr(rows[-1], "id") else rows[-1][0]


MAX_ID = 2**63 - 1  # ids are bigints: a larger cursor would reach PostgreSQL and fail there


def cursor_param(request, name="after"):
    """The id cursor `?after=` / `?before=`: absent or empty is None; anything but an id is a 400 page.

    Only ASCII digits: str.isdigit() is also true of "²" (int() refuses it: a
    500) and of "٣" (int() reads it as 3: a cursor the console never wrote).
    """
    value = request.GET.get(name, "")
    if value == "":
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) > MAX_ID:
        raise BadRequest(f"The {name!r} parameter must be a row id (digits 0-9); start again without it.")
    return int(value)


def keyset_page(queryset, after=None, size=PAGE_SIZE, descending=False):
    """One page of `queryset` by id cursor: (rows, next cursor or None). No COUNT."""
    if descending:
        qs = queryset.order_by("-id")
        if after is not None:
            qs = qs.filter(id__lt=after)
    else:
        qs = queryset.order_by("id")
        if after is not None:
            qs = qs.filter(id__gt=after)
    rows = list(qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if not (more and rows):
        return rows, None
    return rows, (rows[-1].id if hasattr(rows[-1], "id") else rows[-1][0])  # instances, or tuples led by the id
