"""Query-string filters the apps share: a yes/no filter that refuses what is neither.

django-filter reads `?open=maybe` (or `?open=1` with its default widget) as no filter at all, so a client's
typo answered every row as if filtered. Here a boolean parameter is `true`/`false` (`1`/`0`, any case), or
400 `invalid` naming the parameter; absent or empty, it filters nothing.
"""

import django_filters
from django import forms
from django.db import models
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.rest_framework import FilterSet as RestFilterSet

from core.errors import Invalid

_WORDS = {"true": True, "1": True, "false": False, "0": False}


class _YesNoWidget(forms.TextInput):
    def value_from_datadict(self, data, files, name):
        value = data.get(name)
        if isinstance(value, str):
            word = value.strip().lower()
            return _WORDS.get(word, word and value)  # blank: no filter
        return value


class _YesNoField(forms.NullBooleanField):
    widget = _YesNoWidget

    def to_python(self, value):
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        raise forms.ValidationError("Must be true or false.", code="invalid")

    def validate(self, value):
        pass


class BooleanFilter(django_filters.BooleanFilter):
    field_class = _YesNoField


def yes_no(params, name):
    """A yes/no query parameter that is no model field's filter (`?all=` of the rule lists), read as the
    filters above read theirs: True, False, or None when absent or empty; anything else is 400 `invalid`
    naming it (a client sending `?all=true` was answered as if it had not asked)."""
    value = params.get(name, "").strip().lower()
    if not value:
        return None
    if value not in _WORDS:
        raise Invalid(f"?{name}= must be true or false.", errors={name: ["Must be true or false."]})
    return _WORDS[value]


class FilterSet(RestFilterSet):
    """The API's filter sets: a model's boolean fields filtered by BooleanFilter above."""

    FILTER_DEFAULTS = {
        **RestFilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": BooleanFilter},
    }


class FilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend building the views' `filterset_fields` on FilterSet above."""

    filterset_base = FilterSet
