"""core.lookups' array parameters: what PostgreSQL reads back is the list that was passed, element for element."""

from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.lookups import text_array_param
from inventory.storage import chips_of_maker

# PostgreSQL's text cannot hold NUL; everything else may be in a list of strings.
TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)


def _read_back(values):
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [text_array_param(values)])
        return cursor.fetchone()[0]


def test_elements_an_unquoted_literal_would_misread_stay_elements(db):
    values = ["NULL", "null", "", "a,b", "{x}", " padded ", "é", "A.B_C-1"]
    assert text_array_param(values).startswith('{"')
    assert _read_back(values) == values


def test_a_list_needing_escapes_is_passed_as_a_list(db):
    for values in (['say "hi"'], ["back\\slash"], ["ok", 'q"']):
        assert text_array_param(values) == values
        assert _read_back(values) == values


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(TEXT, min_size=1, max_size=20))
def test_any_list_of_strings_reads_back_as_passed(db, values):
    assert _read_back(values) == values


def test_resolution_finds_a_serial_spelled_null(parties):
    """NULL is a valid serial; unquoted in an array literal it would be read as no serial at all."""
    from registry.models import Chip
    from registry.registration import register_chips

    register_chips([{"chip": "nvidia:null", "model": "nvidia-h100-sxm5-80gb"}], parties.users["op_a_admin"])
    chip = Chip.objects.get(serial="NULL")
    assert [row[0] for row in chips_of_maker("nvidia", ["NULL", "ABSENT"])] == [chip.pk]
