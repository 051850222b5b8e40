"""core.copy: COPY text lines built from text_value round-trip every value, escapes included;
the statement parser's patterns admit nothing that copy_lines would need to escape."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from core.copy import copy_lines, text_value
from protocol.serials import CHIP_ID_RE
from protocol.statements import REGISTRY_CODE_RE

texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
rows = st.lists(
    st.tuples(
        st.integers(-(2**62), 2**62),
        st.none() | texts,
        st.datetimes(timezones=st.just(UTC), min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1)),
        st.booleans(),
    ),
    max_size=30,
)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None)
@given(rows)
def test_lines_of_text_values_come_back_exactly(batch):
    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    lines = ("\t".join(text_value(v) for v in row) + "\n" for row in batch)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS copy_probe (n bigint, t text, at timestamptz, b boolean)")
        cursor.execute("TRUNCATE copy_probe")
        assert copy_lines(cursor.cursor, "copy_probe", ("n", "t", "at", "b"), lines) == len(batch)
        cursor.execute("SELECT n, t, at, b FROM copy_probe ORDER BY ctid")
        assert [tuple(r) for r in cursor.fetchall()] == [tuple(r) for r in batch]


@given(texts)
def test_the_parser_patterns_admit_no_copy_special_characters(value):
    # attestations.storage.ingest.copy_sightings writes chip ids and cluster codes into COPY lines unescaped.
    if CHIP_ID_RE.fullmatch(value) or REGISTRY_CODE_RE.fullmatch(value):
        assert not set(value) & {"\t", "\n", "\r", "\\"}
