"""Filters of attestations' lists."""

import django_filters

from attestations.models import Delegation
from core import filters


class DelegationFilter(filters.FilterSet):
    operator__code = django_filters.CharFilter(field_name="operator__code")
    uploader__code = django_filters.CharFilter(field_name="uploader__code")
    in_force = filters.BooleanFilter(field_name="revoked_at", lookup_expr="isnull")

    class Meta:
        model = Delegation
        fields = ["operator__code", "uploader__code", "in_force"]
