"""console.tablespec: a table's page and its CSV download come from one spec."""

import pytest

from console.tablespec import Column, Table
from tests.console.helpers import parse_csv


def test_a_column_says_what_it_is_in_each_format():
    with pytest.raises(ValueError, match="both"):
        Column("X", "{{ row }}", "x")  # a CSV header without its value
    with pytest.raises(ValueError, match="neither"):
        Column("X")
    table = Table("t", "t.csv", (Column("A", "<b>{{ row.a }}</b>", "a", lambda r: r["a"]), Column(csv="b", value=len)))
    assert table.csv_header == ["a", "b"] and table.csv_row({"a": "=1"}) == ["=1", 1]
    [[(column, html)]] = table.html_rows([{"a": "<x>"}])
    assert column.header == "A" and html == "<b>&lt;x&gt;</b>"  # cells are escaped like any template


@pytest.mark.parametrize(
    ("url", "module", "name"),
    [
        ("/alerts/", "alerts", "ALERTS"),
        ("/facilities/", "facilities", "FACILITIES"),
        ("/inspections/", "inspections", "INSPECTIONS"),
        ("/submissions/?table=accepted", "operators", "ACCEPTED"),
        ("/submissions/?table=rejected", "operators", "REJECTED"),
    ],
)
def test_page_and_download_share_the_spec(login, url, module, name):
    import importlib

    table = getattr(importlib.import_module(f"console.views.{module}"), name)
    client = login("treaty")
    page = client.get(url).content.decode()
    for column, _ in table.html_columns:
        assert f">{column.header}</th>" in page
    sep = "&" if "?" in url else "?"
    assert parse_csv(client.get(f"{url}{sep}format=csv"))[0] == table.csv_header
