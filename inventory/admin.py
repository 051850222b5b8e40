from django.contrib import admin

from inventory.models import Campus, Cluster, Facility, Finding, Inspection, Transfer


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "operator", "country", "campus", "status"]
    list_filter = ["country", "status"]
    search_fields = ["code", "name"]


admin.site.register(Campus)
admin.site.register(Cluster)


@admin.register(Transfer)
class TransferAdmin(admin.ModelAdmin):
    list_display = ["id", "shipper", "receiver", "shipped_at", "status"]
    show_full_result_count = False


@admin.register(Inspection)
class InspectionAdmin(admin.ModelAdmin):
    list_display = ["facility", "inspectorate", "performed_at", "observed_count"]


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = ["kind", "chip_ref", "facility", "source", "detected_at", "resolved_at"]
    list_filter = ["kind", "source"]
    show_full_result_count = False
