"""The chip and facility pages' tables: each page's headers and each download's header from one spec."""

import re

import pytest

from console.tablespec import Column, Table
from tests.console.helpers import parse_csv


def _spec(module, name):
    import importlib

    return getattr(importlib.import_module(f"console.views.{module}"), name)


FACILITY_TABLES = [
    ("inventory", "INVENTORY"),
    ("attestations", "ATTESTATIONS"),
    ("findings", "FINDINGS"),
    ("inspections", "INSPECTIONS"),
    ("transfers", "TRANSFERS"),
    ("thresholds", "RULES"),
    ("clusters", "CLUSTERS"),
    ("usage", "USAGE"),
]


@pytest.mark.parametrize(("table", "name"), FACILITY_TABLES)
def test_facility_page_and_downloads_share_the_specs(login, table, name):
    from inventory.models import Transfer

    spec = _spec("facility_tables", name)
    code = "US-VA-001"
    if table == "transfers":  # a facility the demo ships to, so that the table is shown
        code = Transfer.objects.exclude(destination_facility=None).order_by("id").first().destination_facility.code
    client = login("treaty")
    page = client.get(f"/facilities/{code}/").content.decode()
    for column, _ in spec.html_columns:
        assert f">{column.header}</th>" in page
    assert parse_csv(client.get(f"/facilities/{code}/?format=csv&table={table}"))[0] == spec.csv_header


def test_inventory_page_and_download_read_the_same_tuples(login):
    client = login("operator")
    page = client.get("/facilities/US-VA-001/").content.decode()
    rows = parse_csv(client.get("/facilities/US-VA-001/?format=csv&table=inventory"))
    header, first = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert header[0] == "chip"
    # The page's first row is the download's first (both by id), shown through the same fields.
    assert f'">{first["chip"]}</a>' in page
    assert re.search(r'<td class="stamp" title="[^"]+">', page)  # the full time stays in the cell's title
    assert "Installed" in page or "Manufactured" in page  # statuses by their labels, as get_status_display


@pytest.mark.parametrize(
    ("table", "name"),
    [("attestations", "STATEMENTS"), ("placements", "PLACEMENTS"), ("events", "HISTORY"), ("findings", "FINDINGS")],
)
def test_chip_page_and_downloads_share_the_specs(login, table, name):
    from inventory.models import Placement

    spec = _spec("chips", name)
    client = login("treaty")
    chip = Placement.objects.select_related("chip__manufacturer").order_by("id").first().chip
    page = client.get(f"/chips/{chip.public_id}/")
    assert page.status_code == 200
    csv_rows = parse_csv(client.get(f"/chips/{chip.public_id}/?format=csv&table={table}"))
    assert csv_rows[0] == spec.csv_header


def test_tuple_rows_by_key_and_dict_rows_by_key():
    table = Table(
        "t",
        "t.csv",
        (
            Column("A", "{{ row.a }}", "a", "a"),
            Column(csv="ab", value=lambda ab: f"{ab[0]}:{ab[1]}", key=("a", "b")),
            Column("B", "{{ row.b }}", css="stamp", title="at {{ row.b }}"),
        ),
        fields=("a", "b"),
        row_css="{% if row.a == 1 %}crossed{% endif %}",
    )
    assert table.csv_row((1, "x")) == [1, "1:x"]
    [cells] = table.html_cells([(1, "x")])
    assert cells["css"] == "crossed" and [(h, t) for _, h, t in cells["cells"]] == [("1", None), ("x", "at x")]
    with pytest.raises(ValueError, match="not in its fields"):
        Table("u", "u.csv", (Column(csv="c", value="c"),), fields=("a",)).csv_row((1,))
    assert Table("d", "d.csv", (Column(csv="a", value="a"),)).csv_row({"a": 2}) == [2]


@pytest.mark.parametrize(
    ("url", "table", "name"),
    [
        ("/", "alerts", "BY_SEVERITY"),
        ("/", "nearest", "NEAREST"),
        ("/", "countries", "COUNTRIES"),
        ("/", "operators", "OPERATORS"),
        ("/", "attestations", "ATTESTATIONS"),
        ("/", "rejections", "REJECTIONS"),
        ("/map/", "facilities", "MAP"),
    ],
)
def test_dashboard_and_map_pages_and_downloads_share_the_specs(login, url, table, name):
    spec = _spec("dashboard_tables", name)
    client = login("treaty")
    page = client.get(url).content.decode()
    for column, _ in spec.html_columns:
        assert f">{column.header}</th>" in page
    assert parse_csv(client.get(f"{url}?format=csv&table={table}"))[0] == spec.csv_header
    if name == "BY_SEVERITY":
        assert "<tfoot><tr><th>Total open</th>" in page


def test_keys_page_and_download_share_the_spec_and_the_forms_keep_their_csrf_token(login):
    from console.views.operators import KEYS, MANAGED_KEYS

    client = login("operator")
    page = client.get("/keys/").content.decode()
    for column, _ in MANAGED_KEYS.html_columns:
        assert f">{column.header}</th>" in page
    assert parse_csv(client.get("/keys/?format=csv"))[0] == KEYS.csv_header
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]*)"', page)
    assert tokens and all(tokens)  # the forms in the table's cells post with the page's token


def test_inspection_page_and_downloads_share_the_specs(login):
    from console.views.inspections import FINDINGS, OBSERVED
    from inventory.models import Inspection

    client = login("treaty")
    pk = Inspection.objects.order_by("id").first().pk
    assert parse_csv(client.get(f"/inspections/{pk}/?format=csv"))[0] == FINDINGS.csv_header
    assert parse_csv(client.get(f"/inspections/{pk}/csv/"))[0] == OBSERVED.csv_header


def test_reconciliation_page_and_downloads_share_the_spec(login):
    from console.views.facility_tables import DISCREPANCIES

    client = login("inspector")
    page = client.get("/facilities/US-VA-001/reconciliation/?fragment=1").content.decode()
    for column, _ in DISCREPANCIES.html_columns:
        assert f">{column.header}</th>" in page
    assert '<a href="/chips/' in page  # known chips link to their page (the tuples carry chip_pk)
    for query in ("format=csv", "format=csv&live=1"):
        rows = parse_csv(client.get(f"/facilities/US-VA-001/reconciliation/?{query}"))
        assert rows[0] == DISCREPANCIES.csv_header


def test_every_console_download_goes_through_a_table_spec():
    from pathlib import Path

    import console

    root = Path(console.__file__).parent
    callers = [p.relative_to(root) for p in root.rglob("*.py") if "csv_response" in p.read_text()]
    assert [str(p) for p in callers] == ["tablespec.py"]
