"""Keyset pagination for every list: a cursor on the primary key, never COUNT(*).

A cursor is opaque to clients but not trusted: DRF decodes it and filters on
its position as it stands, so a hand-made `?cursor=` whose position is not a
value of the ordering field (`p=abc` on an integer id, a number beyond
bigint) reached the database and came back as a 500. Here every part of the
cursor is checked against the ordering field first, and a cursor that is not
one the registry could have issued is a 400 `invalid_cursor`.
"""

import base64

from django.core.exceptions import FieldDoesNotExist, ValidationError
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination

from core.problems import Problem

MAX_CURSOR_CHARS = 1024


def invalid_cursor(detail="The cursor is not one this list issued; start again without it."):
    return Problem(400, "invalid_cursor", detail)


class KeysetPagination(CursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is not None:
            # DRF's decoder skips characters outside base64's alphabet ("%%%" read as no cursor at all).
            try:
                if len(encoded) > MAX_CURSOR_CHARS or not encoded:
                    raise ValueError
                base64.b64decode(encoded.encode("ascii"), validate=True)
            except ValueError:  # binascii.Error and UnicodeEncodeError are ValueErrors
                raise invalid_cursor() from None
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise invalid_cursor() from None
        if cursor is None or cursor.position is None:
            return cursor
        return Cursor(offset=cursor.offset, reverse=cursor.reverse, position=self._position(cursor.position))

    def _position(self, raw):
        """The cursor's position as a value of the first ordering field, or a 400."""
        order = self.ordering[0] if isinstance(self.ordering, (list, tuple)) else self.ordering
        name = order.lstrip("-")
        model = getattr(self, "_model", None)
        if model is None or "__" in name:
            return raw  # not a plain field of the model: left to DRF as before
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            return raw
        if "\x00" in raw:
            raise invalid_cursor()
        try:
            value = field.to_python(raw)
            # The field's own range validators (an integer beyond bigint never reaches the database).
            field.run_validators(value)
        except (ValidationError, ValueError, TypeError, OverflowError):
            raise invalid_cursor() from None
        if value is None:
            raise invalid_cursor()
        return raw  # DRF compares positions as strings (str() of the row's value)
