import django_filters

from core import filters
from registry.choices import ChipStatus, OrgKind
from registry.models import AcceleratorModel, Chip, Organisation


class OrganisationFilter(filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=OrgKind.choices)
    country = django_filters.CharFilter()

    class Meta:
        model = Organisation
        fields = ["kind", "country"]


class AcceleratorModelFilter(filters.FilterSet):
    manufacturer = django_filters.CharFilter(field_name="manufacturer__code")

    class Meta:
        model = AcceleratorModel
        fields = ["manufacturer", "architecture", "year", "confidence"]


class ChipFilter(filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ChipStatus.choices)
    model = django_filters.CharFilter(field_name="model__slug")
    manufacturer = django_filters.CharFilter(field_name="manufacturer__code")
    custodian = django_filters.CharFilter(field_name="custodian__code")
    country = django_filters.CharFilter()
    serial = django_filters.CharFilter(method="filter_serial")

    class Meta:
        model = Chip
        fields = ["status", "model", "manufacturer", "custodian", "country", "serial"]

    def filter_serial(self, queryset, name, value):
        from protocol.serials import normalize_serial

        try:
            return queryset.filter(serial=normalize_serial(value))
        except ValueError:
            return queryset.none()
