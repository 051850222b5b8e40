from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from registry.models import AcceleratorModel, AcceleratorModelRevision, APIToken, Chip, ChipEvent, Organisation, User


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "country"]
    list_filter = ["kind"]
    search_fields = ["code", "name"]


@admin.register(User)
class ChipregUserAdmin(UserAdmin):
    list_display = ["username", "organisation", "role", "is_active", "is_superuser"]
    list_filter = ["role", "organisation__kind"]
    fieldsets = (*UserAdmin.fieldsets, ("Registry", {"fields": ("organisation", "role")}))


@admin.register(APIToken)
class APITokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "digest", "created_at", "last_used_at"]


class RevisionInline(admin.TabularInline):
    model = AcceleratorModelRevision
    extra = 0
    can_delete = False
    readonly_fields = ["at", "changed_by", "reason", "before", "after"]


@admin.register(AcceleratorModel)
class AcceleratorModelAdmin(admin.ModelAdmin):
    list_display = ["name", "manufacturer", "tpp", "bf16_tflops", "fp8_tflops", "memory_gb", "tdp_w", "confidence"]
    list_filter = ["manufacturer", "confidence"]
    inlines = [RevisionInline]

    def save_model(self, request, obj, form, change):
        if change:
            before = AcceleratorModel.objects.get(pk=obj.pk).figures()
            super().save_model(request, obj, form, change)
            if before != obj.figures():
                AcceleratorModelRevision.objects.create(
                    model=obj, changed_by=request.user, reason="admin edit", before=before, after=obj.figures()
                )
        else:
            super().save_model(request, obj, form, change)


class ChipEventInline(admin.TabularInline):
    model = ChipEvent
    extra = 0
    can_delete = False
    readonly_fields = ["at", "kind", "actor", "actor_organisation", "before", "after", "reason", "log_index"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Chip)
class ChipAdmin(admin.ModelAdmin):
    list_display = ["__str__", "model", "status", "custodian", "country"]
    list_filter = ["status", "model"]
    search_fields = ["serial"]
    raw_id_fields = ["batch"]
    inlines = [ChipEventInline]
    show_full_result_count = False  # never COUNT(*) over millions of chips

    def has_change_permission(self, request, obj=None):
        # Changes go through the API so they reach the history and the log.
        return False
