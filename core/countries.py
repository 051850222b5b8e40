"""ISO 3166-1 alpha-2 country codes (from pycountry, not retyped)."""

from functools import lru_cache

import pycountry
from django.core.exceptions import ValidationError


@lru_cache(maxsize=1)
def country_codes():
    return frozenset(c.alpha_2 for c in pycountry.countries)


def normalize_country(value):
    code = (value or "").strip().upper()
    if code not in country_codes():
        raise ValidationError(f"{value!r} is not an ISO 3166-1 alpha-2 country code.", code="invalid_country")
    return code


def validate_country(value):
    normalize_country(value)


def validate_country_list(values):
    if not isinstance(values, list):
        raise ValidationError("Jurisdictions must be a list of country codes.", code="invalid_country")
    for value in values:
        if value != (value or "").upper():
            raise ValidationError(f"{value!r} must be upper-case.", code="invalid_country")
        validate_country(value)
