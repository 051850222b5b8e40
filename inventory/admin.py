"""The inventory in Django admin: to look at, never to change.

Inspectors and treaty bodies rely on every inventory record through the log:
a save here would change one without an event (and without the checks the
services make). So every inventory table is read-only in admin, for
superusers too; changes go through the API, whose services check and log them.
"""

from django.contrib import admin

from inventory.models import (
    AnyFinding,
    Campus,
    Cluster,
    Declaration,
    Facility,
    Inspection,
    NetworkLink,
    Placement,
    Transfer,
    WorkloadGroup,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """View only: no add, change or delete (nor the bulk delete action), whoever asks."""

    show_full_result_count = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return {}


@admin.register(Facility)
class FacilityAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "operator", "country", "campus", "status", "review"]
    list_filter = ["country", "status", "review"]
    search_fields = ["code", "name"]


@admin.register(Campus)
class CampusAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "created_at"]


@admin.register(Cluster)
class ClusterAdmin(ReadOnlyAdmin):
    list_display = ["code", "facility", "purpose", "interconnect_gbps"]


@admin.register(Placement)
class PlacementAdmin(ReadOnlyAdmin):
    list_display = ["id", "chip", "facility", "cluster", "valid_from", "valid_to", "source"]
    raw_id_fields = ["chip", "facility", "cluster"]


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ["id", "shipper", "receiver", "shipped_at", "status"]


@admin.register(Declaration)
class DeclarationAdmin(ReadOnlyAdmin):
    list_display = ["id", "facility", "as_of", "chip_count", "log_index"]


@admin.register(Inspection)
class InspectionAdmin(ReadOnlyAdmin):
    list_display = ["facility", "inspectorate", "performed_at", "observed_count"]


@admin.register(AnyFinding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = ["kind", "chip_ref", "facility", "source", "detected_at", "resolved_at"]
    list_filter = ["kind", "source"]


@admin.register(NetworkLink)
class NetworkLinkAdmin(ReadOnlyAdmin):
    list_display = ["code", "operator", "a_facility", "b_facility", "bandwidth_gbps", "declared_at", "retired_at"]


@admin.register(WorkloadGroup)
class WorkloadGroupAdmin(ReadOnlyAdmin):
    list_display = ["code", "operator", "name", "declared_at", "retired_at"]
