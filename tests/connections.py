"""A second connection to the test database, outside Django's (another party's session: its own locks and
transaction), for the tests of what one session does while another holds or waits for a lock."""

import psycopg
from django.db import connection


def second_connection(**kwargs):
    """A psycopg connection to the database the test's Django connection uses; `kwargs` go to psycopg.connect."""
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=db.get("USER") or "postgres",
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        password=db.get("PASSWORD") or None,
        **kwargs,
    )
