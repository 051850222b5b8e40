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
