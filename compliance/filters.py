"""Filters of the answers, clarification requests and deliveries lists.

Subjects are filtered by id, not as model choices: a choice filter answers 400 for a finding that
does not exist and an empty list for one that does, telling a party about findings outside its view.
"""

import django_filters

from compliance.dispute_models import AWAITING, Answer, ClarificationRequest
from compliance.models import Delivery
from core import filters


class AnswerFilter(filters.FilterSet):
    finding = django_filters.NumberFilter(field_name="finding_id")
    alert = django_filters.NumberFilter(field_name="alert_id")
    operator = django_filters.CharFilter(field_name="operator__code")

    class Meta:
        model = Answer
        fields = ["finding", "alert", "operator", "run"]


def _awaiting(queryset, name, value):
    return queryset.filter(state__in=AWAITING) if value else queryset.exclude(state__in=AWAITING)


class ClarificationFilter(filters.FilterSet):
    finding = django_filters.NumberFilter(field_name="finding_id")
    alert = django_filters.NumberFilter(field_name="alert_id")
    operator = django_filters.CharFilter(field_name="operator__code")
    requester = django_filters.CharFilter(field_name="requester__code")
    awaiting = filters.BooleanFilter(method=_awaiting, help_text="Still owed an answer (open or overdue).")

    class Meta:
        model = ClarificationRequest
        fields = ["finding", "alert", "operator", "requester", "state", "awaiting"]


class DeliveryFilter(filters.FilterSet):
    # By id, not as model choices (module doc): alert and subscription ids are sequential, and a choice filter
    # would count every alert raised anywhere and tell which subscriptions exist.
    alert = django_filters.NumberFilter(field_name="alert_id")
    subscription = django_filters.NumberFilter(field_name="subscription_id")

    class Meta:
        model = Delivery
        fields = ["state", "alert", "subscription", "channel", "event"]
