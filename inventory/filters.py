import django_filters

from core import filters
from inventory.models import AnyFinding, Cluster, Facility, Inspection, NetworkLink, Transfer, WorkloadGroup
from protocol.serials import normalize_chip_id, parse_chip_id


class FacilityFilter(filters.FilterSet):
    operator = django_filters.CharFilter(field_name="operator__code")
    campus = django_filters.CharFilter(field_name="campus__code")

    class Meta:
        model = Facility
        fields = ["country", "status", "operator", "campus", "review"]


class ClusterFilter(filters.FilterSet):
    facility = django_filters.CharFilter(field_name="facility__code")

    class Meta:
        model = Cluster
        fields = ["facility", "purpose"]


class NetworkLinkFilter(filters.FilterSet):
    facility = django_filters.CharFilter(method="either_end", help_text="Links with an end in this facility.")
    active = filters.BooleanFilter(field_name="retired_at", lookup_expr="isnull")

    class Meta:
        model = NetworkLink
        fields = ["code", "facility", "active"]

    def either_end(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(Q(a_facility__code=value) | Q(b_facility__code=value))


class WorkloadGroupFilter(filters.FilterSet):
    active = filters.BooleanFilter(field_name="retired_at", lookup_expr="isnull")

    class Meta:
        model = WorkloadGroup
        fields = ["code", "active"]


class TransferFilter(filters.FilterSet):
    shipper = django_filters.CharFilter(field_name="shipper__code")
    receiver = django_filters.CharFilter(field_name="receiver__code")

    class Meta:
        model = Transfer
        fields = ["status", "shipper", "receiver", "origin_country", "destination_country"]


class InspectionFilter(filters.FilterSet):
    facility = django_filters.CharFilter(field_name="facility__code")

    class Meta:
        model = Inspection
        fields = ["facility"]


def filter_chip(queryset, name, value):
    try:
        maker, serial = parse_chip_id(normalize_chip_id(value))
    except ValueError:
        return queryset.none()
    return queryset.filter(chip__manufacturer__code=maker, chip__serial=serial)


class FindingFilter(filters.FilterSet):
    facility = django_filters.CharFilter(field_name="facility__code")
    chip = django_filters.CharFilter(method=filter_chip)
    open = filters.BooleanFilter(field_name="resolved_at", lookup_expr="isnull")

    class Meta:
        model = AnyFinding
        fields = ["kind", "source", "source_id", "facility", "chip", "country", "open"]
