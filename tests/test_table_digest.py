"""The suite's own instruments: the table digest that refused writes are checked with, and the check after every
test that the stored log verifies, which audits a log it saw pass only once."""

import pytest
from django.db import connection
from django.utils import timezone

from tests.table_digest import table_digest
from tests.transparency import log_check


@pytest.mark.django_db
def test_the_digest_moves_with_any_value_of_any_row_and_not_with_excluded_columns(parties):
    from registry.models import Organisation, User

    before = table_digest(Organisation)
    assert table_digest(Organisation) == before and before[0] == Organisation.objects.count()
    Organisation.objects.filter(code="op-a").update(name=parties.op_a.name + " ")  # one trailing space
    assert table_digest(Organisation) != before
    Organisation.objects.filter(code="op-a").update(name=parties.op_a.name)
    assert table_digest(Organisation) == before
    Organisation.objects.filter(code="op-b").update(jurisdictions=["DE", ""])
    assert table_digest(Organisation) != before

    user = parties.users["op_a_admin"]
    users = table_digest(User, exclude={"last_login"})
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    assert table_digest(User, exclude={"last_login"}) == users
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert table_digest(User, exclude={"last_login"}) != users
    User.objects.filter(pk=user.pk).delete()
    assert table_digest(User, exclude={"last_login"})[0] == users[0] - 1


@pytest.mark.log_damaged
@pytest.mark.django_db
def test_a_log_that_passed_is_audited_again_once_any_stored_row_differs(parties):
    from registry.registration import register_chips
    from tests.factories import chip_rows
    from transparency.checkpoints import sign_if_due

    register_chips(chip_rows("SEEN", 3), parties.users["op_a_admin"])
    sign_if_due()
    log_check.assert_log_verifies_unless_seen()
    assert log_check.stored_log_digest() in log_check._verified
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE transparency_logeventdata SET data_jcs = data_jcs || ' ' WHERE \"index\" = "
            '(SELECT min("index") FROM transparency_logeventdata)'
        )
    with pytest.raises(pytest.fail.Exception, match="verify_log failed"):
        log_check.assert_log_verifies_unless_seen()
