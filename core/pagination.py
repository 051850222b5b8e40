"""Keyset pagination for every list: a cursor on the primary key, never COUNT(*)."""

from rest_framework.pagination import CursorPagination


class KeysetPagination(CursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000
