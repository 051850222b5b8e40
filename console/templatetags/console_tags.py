from urllib.parse import urlencode

from django import template
from django.urls import reverse

from inventory.choices import PlacementSource
from registry.choices import ChipStatus

register = template.Library()


@register.filter
def num(value):
    """Numbers for people: 12,345 / 1,234.5 / 2.9e21 / 0.42; None is a dash."""
    if value is None or value == "":
        return "—"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if isinstance(value, int) or (v.is_integer() and abs(v) < 1e15):
        return f"{int(v):,}"
    if abs(v) >= 1e7:
        mantissa, exponent = f"{v:.3g}".split("e") if "e" in f"{v:.3g}" else (f"{v:.3g}", "0")
        return f"{mantissa}e{int(exponent)}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"


# Choices a table of raw rows (values_list tuples) shows by their labels, as get_FOO_display would.
LABELS = {"chip_status": ChipStatus, "placement_source": PlacementSource}


@register.filter
def label(value, choices):
    """A stored choice's label: {{ row.status|label:"chip_status" }}; an unknown value as it is."""
    try:
        return LABELS[choices](value).label
    except ValueError:
        return value


@register.filter
def chip_id(maker, serial):
    """The public id from raw row fields: stored serials are already in the registry's one spelling."""
    return f"{maker}:{serial}"


@register.filter
def pct(value):
    if value is None:
        return "—"
    return f"{float(value) * 100:.0f}%"


@register.simple_tag
def chip_url(public_id):
    return reverse("console:chip", args=[public_id])


@register.simple_tag(takes_context=True)
def csv_url(context, table, **extra):
    """This page's URL (with its filters) asking for one table as CSV."""
    request = context["request"]
    params = {k: v for k, v in request.GET.items() if k not in ("format", "table", "after", "before")}
    params.update({"format": "csv", "table": table, **extra})
    return f"{request.path}?{urlencode(params)}"


@register.simple_tag(takes_context=True)
def page_url(context, **changes):
    """This page's URL with some query parameters changed (None removes one)."""
    params = dict(context["request"].GET.items())
    for k, v in changes.items():
        if v is None or v == "":
            params.pop(k, None)
        else:
            params[k] = v
    query = urlencode(params)
    return f"{context['request'].path}?{query}" if query else context["request"].path


@register.filter
def get(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def when(value):
    """UTC timestamps, to the second, always with the zone: inspectors compare them with logs."""
    if not value:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


@register.filter
def day(value):
    if not value:
        return "—"
    return value.strftime("%Y-%m-%d")


@register.filter
def stamp(value):
    """A compact UTC timestamp for tables (the full one is in the title)."""
    if not value:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M")


@register.inclusion_tag("console/_table.html", takes_context=True)
def data_table(context, table, rows, **extra):
    """A console.tablespec Table's HTML: the same columns as its CSV download.

    Keywords are in every cell's and the footer's context beside `row` (a total,
    the page's per-row errors); so is the page's CSRF token, for forms in cells.
    """
    extra = {"csrf_token": context.get("csrf_token"), **extra}
    return {
        "table": table,
        "columns": [c for c, _ in table.html_columns],
        "rows": table.html_cells(rows, extra),
        "foot": table.html_foot(extra),
    }
