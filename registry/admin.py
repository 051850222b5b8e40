"""Django admin for the registry's tables.

Every table an inspector or treaty body relies on either logs its admin edits
(through registry.records, the same writer as the API and manage.py) or is
read-only here:

- organisations: edits and additions logged (organisation.created/updated);
- users: additions and changes of name, role, activity, organisation, staff,
  superuser, Django groups or permissions logged (user.created/updated), each
  change asked of registry.authority (staff never manage superusers nor make
  one, nor grant Django permissions or groups); never deleted (deactivate
  instead);
- accelerator models: corrections logged as revisions and model.corrected,
  additions as model.added; revisions are read-only;
- chips and their history: read-only (changes go through the API and transfers);
- API tokens: read-only (issued and revoked through the API or issue_token,
  which log them).
- Django's groups: not administered here. A registry user's authority is its
  organisation and role; a group's permissions, edited on their own page, would
  change what every member may do here with no user.updated event.
Nothing here is deleted: rows are referenced by history and log events.
"""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.db import transaction
from django.http import HttpResponseRedirect

from core.errors import DomainError
from registry import authority, records
from registry.models import AcceleratorModel, AcceleratorModelRevision, APIToken, Chip, ChipEvent, Organisation, User

admin.site.unregister(Group)


class NoDeleteMixin:
    def has_delete_permission(self, request, obj=None):
        return False


class DomainErrorsMixin:
    """A refusal of the registry's writers (a clashing vendor word, a change the actor may not make) is shown on
    the form's page with its code, as the API answers it, rather than as a server error; the admin's
    transaction around the save rolls back whatever the save had written."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as refused:
            self.message_user(request, f"Not saved: {refused.detail} ({refused.code})", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class ReadOnlyMixin(NoDeleteMixin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Organisation)
class OrganisationAdmin(DomainErrorsMixin, NoDeleteMixin, admin.ModelAdmin):
    list_display = ["code", "name", "kind", "country"]
    list_filter = ["kind"]
    search_fields = ["code", "name"]

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            fields = [f for f in form.changed_data if f in records.ORG_FIELDS]
            saved = records.update_organisation(obj, request.user, {f: getattr(obj, f) for f in fields})
        else:
            fields = {f: getattr(obj, f) for f in ("code", *records.ORG_FIELDS)}
            saved = records.create_organisation(request.user, **fields)
        obj.pk = saved.pk


@admin.register(User)
class ChipregUserAdmin(DomainErrorsMixin, NoDeleteMixin, UserAdmin):
    list_display = ["username", "organisation", "role", "is_active", "is_superuser"]
    list_filter = ["role", "organisation__kind"]
    fieldsets = (*UserAdmin.fieldsets, ("Registry", {"fields": ("organisation", "role")}))

    def has_change_permission(self, request, obj=None):
        # registry.authority decides whom an administrator manages: staff never a superuser, on the change form
        # or on the password page (which saves without save_model).
        if not super().has_change_permission(request, obj):
            return False
        if obj is not None:
            try:
                authority.check_user_change(request.user, obj, {})
            except DomainError:
                return False
        return True

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        original = User.objects.select_related("organisation").get(pk=obj.pk) if change else None
        if change:
            # What the form changes, asked of registry.authority before it is saved (staff make no superuser and
            # grant no Django permission or group).
            fields = {*authority.USER_AUTHORITY_FIELDS, "username"} & set(form.changed_data)
            grants = set(authority.DJANGO_GRANT_FIELDS) & set(form.changed_data)
            changes = {f: getattr(obj, f) for f in fields} | {f: form.cleaned_data[f] for f in grants}
            authority.check_user_change(request.user, original, changes)
            # Logged in save_related, once the form's groups and permissions are saved too.
            form.chipreg_before = records.user_state(original)
        super().save_model(request, obj, form, change)
        if not change:
            records.record_user_created(obj, request.user)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change:
            records.record_user_change(form.instance, form.chipreg_before, request.user)

    @transaction.atomic
    def user_change_password(self, request, id, form_url=""):
        """The password page saves without save_model: a password set here is logged as one set through the API
        is (`user.updated`, `password_set`, by whom): whoever sets it signs in as the user."""
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:  # saved: the page redirects only then
            user = User.objects.select_related("organisation").get(pk=unquote(id))
            records.record_user_change(user, records.user_state(user), request.user, password_set=True)
        return response


@admin.register(APIToken)
class APITokenAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "digest", "created_at", "last_used_at"]


class RevisionInline(admin.TabularInline):
    model = AcceleratorModelRevision
    extra = 0
    can_delete = False
    readonly_fields = ["at", "changed_by", "reason", "before", "after", "log_index"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AcceleratorModel)
class AcceleratorModelAdmin(DomainErrorsMixin, NoDeleteMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "manufacturer",
        "tpp",
        "bf16_tflops",
        "fp8_tflops",
        "fp4_tflops",
        "memory_gb",
        "tdp_w",
        "confidence",
    ]
    list_filter = ["manufacturer", "confidence"]
    inlines = [RevisionInline]

    def get_readonly_fields(self, request, obj=None):
        # Chip ids and every aggregate refer to a model by these; TPP follows the throughput figures.
        return ["manufacturer", "name", "slug", "tpp"] if obj is not None else ["tpp"]

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        if change:
            figures = obj.figures()
            records.correct_model(obj, request.user, figures, reason="admin edit")
        else:
            super().save_model(request, obj, form, change)
            records.record_model_added(obj, request.user)


class ChipEventInline(admin.TabularInline):
    model = ChipEvent
    extra = 0
    can_delete = False
    readonly_fields = ["at", "kind", "actor", "actor_organisation", "before", "after", "reason", "log_index"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Chip)
class ChipAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["__str__", "model", "status", "custodian", "country"]
    list_filter = ["status", "model"]
    search_fields = ["serial"]
    raw_id_fields = ["batch"]
    inlines = [ChipEventInline]
    show_full_result_count = False  # never COUNT(*) over millions of chips
