"""LOG.md section 4: out-of-range or malformed input is a 400 problem, never a 500."""

import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transparency.checkpoints import sign_if_due

from .helpers import append_events

SIZE = 6  # the log in these tests: 6 entries, all signed
HUGE = "9" * 30


@pytest.fixture
def log6(db):
    append_events(SIZE)
    sign_if_due()
    append_events(1, prefix="UNSIGNED")  # in the tree but not yet in a checkpoint


def assert_problem(response, status=400):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    # LOG.md 4: every index or size out of range, missing or malformed is the one code.
    assert body["status"] == status and body["code"] == "invalid_range", body
    return body


BAD_INCLUSION = [
    {"index": "6", "size": "6"},  # index >= size
    {"index": "0", "size": "7"},  # size > latest checkpoint (7 leaves, 6 signed)
    {"index": "0", "size": "0"},
    {"index": "-1", "size": "6"},
    {"index": "0", "size": "-6"},
    {"index": "x", "size": "6"},
    {"index": "1.0", "size": "6"},
    {"index": " 1", "size": "6"},
    {"index": "\u00b2", "size": "6"},  # a Unicode digit int() refuses
    {"index": "\u0661", "size": "6"},  # Arabic-Indic one
    {"index": HUGE, "size": "6"},
    {"index": "0", "size": HUGE},
    {"index": "0", "size": str(2**63)},
    {"index": "0", "size": str(2**64 + 1)},
    {"index": "", "size": "6"},
    {"index": "0"},
    {"size": "6"},
    {},
]

BAD_CONSISTENCY = [
    {"first": "4", "second": "3"},  # first > second
    {"first": "0", "second": "3"},  # nothing to prove against the empty tree
    {"first": "3", "second": "7"},  # beyond the latest checkpoint
    {"first": "-1", "second": "3"},
    {"first": "1", "second": "three"},
    {"first": HUGE, "second": "3"},
    {"first": "1", "second": HUGE},
    {"first": "1", "second": str(2**63 - 1)},
    {"first": "1"},
    {"second": "3"},
    {},
]

BAD_ENTRIES = ["7", "8", "-1", "abc", "1e3", HUGE, str(2**63), str(2**63 - 1), "\u00b2", "0x1"]


@pytest.mark.parametrize("params", BAD_INCLUSION)
def test_bad_inclusion_requests(api, log6, params):
    assert_problem(api(None).get("/api/v1/log/proof/inclusion", params))


@pytest.mark.parametrize("params", BAD_CONSISTENCY)
def test_bad_consistency_requests(api, log6, params):
    assert_problem(api(None).get("/api/v1/log/proof/consistency", params))


def test_bad_entries(api, parties, log6):
    client = api(parties.users["treaty"])
    for index in BAD_ENTRIES:
        assert_problem(client.get(f"/api/v1/log/entries/{urllib.parse.quote(index)}"))


def test_edges_that_are_in_range(api, log6):
    client = api(None)
    assert client.get("/api/v1/log/proof/inclusion", {"index": "5", "size": "6"}).status_code == 200
    assert client.get("/api/v1/log/proof/inclusion", {"index": "005", "size": "06"}).status_code == 200
    assert client.get("/api/v1/log/proof/consistency", {"first": "6", "second": "6"}).json()["hashes"] == []


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
number_like = st.one_of(text, st.integers(min_value=-(2**70), max_value=2**70).map(str))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=number_like, b=number_like, which=st.sampled_from(["inclusion", "consistency", "entries"]))
def test_arbitrary_strings_never_500(api, parties, log6, a, b, which):
    client = api(parties.users["treaty"])
    if which == "entries":
        response = client.get(f"/api/v1/log/entries/{urllib.parse.quote(a, safe='')}")
    else:
        names = ("index", "size") if which == "inclusion" else ("first", "second")
        response = client.get(f"/api/v1/log/proof/{which}", dict(zip(names, (a, b), strict=True)))
    assert response.status_code < 500, (which, a, b, response.content)
    if response.status_code != 200:
        assert response["Content-Type"] == "application/problem+json"
