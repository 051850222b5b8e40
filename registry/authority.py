"""Who may change which field of a registry record: the one place that decides.

restrict() on each queryset says which rows a user may touch at all; this
module says which of their fields, and to what. Every writer of organisations,
users, catalog models and chips (the API, Django admin, manage.py commands)
asks here before it writes, so a new path cannot forget a rule.

`actor` None is the command line (manage.py): whoever runs it holds the
server, so it speaks as a registry administrator.
"""

from core.errors import Forbidden
from core.permissions import WRITE_ROLES
from registry.choices import OrgKind, Role

# An organisation's place in the treaty (what it is, where it is, what it
# inspects) decides what every party sees: no organisation sets its own.
RESERVED_ORG_FIELDS = frozenset({"kind", "country", "jurisdictions"})
# Fields of a person that decide what they may do; these changes are logged.
USER_AUTHORITY_FIELDS = ("role", "is_active", "organisation", "is_staff", "is_superuser")
# Django's own grants (Django admin only): what a staff member may do there. Granted, like superuser status,
# by superusers alone: staff allowed to edit users would otherwise give themselves every model's admin.
DJANGO_GRANT_FIELDS = ("groups", "user_permissions")
# A role may grant only roles at or below its own.
ROLE_RANK = {Role.READ_ONLY: 0, Role.MEMBER: 1, Role.ADMIN: 2}
CHIP_HOLDER_FIELDS = frozenset({"status", "uuid", "board_part_number", "attestation_key_fingerprint"})


def is_registry_admin(user):
    """The registry's own administrators: superusers and staff, or the command line."""
    return user is None or bool(user.is_superuser or user.is_staff)


def _org_kind(user):
    return user.organisation.kind if user is not None and user.organisation_id else None


def speaks_for_treaty_body(user, roles=WRITE_ROLES):
    return _org_kind(user) == OrgKind.TREATY_BODY and user.role in roles


def _django_grants(user):
    """The Django permissions `user` holds, itself or through its groups, active or not (reactivating counts)."""
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    if user.pk is None:
        return set()
    return set(Permission.objects.filter(Q(user=user) | Q(group__user=user)).values_list("pk", flat=True))


def check_organisation_change(user, org, fields):
    """Refuse unless `user` may change these `fields` of `org` (the fields whose value changes)."""
    fields = set(fields)
    if not fields or is_registry_admin(user):
        return
    reserved = fields & RESERVED_ORG_FIELDS
    if reserved and not speaks_for_treaty_body(user, roles={Role.ADMIN}):
        raise Forbidden(
            f"Only a registry administrator or the treaty body changes an organisation's "
            f"{', '.join(sorted(reserved))}.",
            code="reserved_field",
            fields=sorted(reserved),
        )
    # Its own name is the organisation's to choose; the treaty body changes
    # another's place in the treaty, not what it calls itself.
    rest = fields - RESERVED_ORG_FIELDS
    if rest and not (user.organisation_id == org.pk and user.role == Role.ADMIN):
        raise Forbidden("Only the organisation's own administrators change these fields.")


def check_organisation_create(user):
    if not is_registry_admin(user):
        raise Forbidden("Only registry administrators create organisations.")


def protected_user():
    """The refusal of an org admin's change to a registry administrator (a superuser or staff member)."""
    return Forbidden("Registry administrators are managed only by registry administrators.", code="protected_user")


def check_user_change(user, target, changes):
    """Refuse unless `user` may apply `changes` (field -> new value) to `target` (another or themselves).

    Org admins manage the people of their own organisation below the registry:
    never a superuser or staff member (whose password opens /admin/), and never
    to a role above their own.
    """
    if "is_superuser" in changes and user is not None and not user.is_superuser:
        # As only superusers create superusers (registry.records): staff never make one, themselves included.
        raise Forbidden("Only superusers grant or take away superuser status.", code="protected_user")
    if "is_staff" in changes and user is not None and not user.is_superuser:
        # Staff are registry administrators (is_registry_admin): one making another, an operator's admin say,
        # would take that user out of its organisation's hands and give it every organisation's users.
        raise Forbidden("Only superusers make or unmake registry administrators (staff).", code="protected_user")
    if changes.keys() & set(DJANGO_GRANT_FIELDS) and user is not None and not user.is_superuser:
        raise Forbidden("Only superusers grant or take away Django permissions and groups.", code="protected_user")
    if (
        user is not None
        and not user.is_superuser
        and target.pk != user.pk
        and _django_grants(target) - _django_grants(user)
    ):
        # Setting the password of (or making staff, or reactivating) a user a superuser granted more would hand
        # those grants to whoever did it: they log in as that user. So such a user is a superuser's to manage.
        raise Forbidden(
            "Only superusers manage a user holding Django permissions that you do not hold.", code="protected_user"
        )
    if is_registry_admin(user) and (user is None or user.is_superuser or not target.is_superuser):
        return
    if target.is_superuser or target.is_staff:
        raise protected_user()
    if changes.keys() & {"is_staff", "is_superuser", "organisation"}:
        raise Forbidden("Only registry administrators change these fields of a user.")
    if user.organisation_id is None or user.organisation_id != target.organisation_id or user.role != Role.ADMIN:
        raise Forbidden("Only an administrator of the user's organisation may do this.")
    _check_role_grant(user, changes.get("role"))


def check_user_create(user, organisation, role):
    if is_registry_admin(user):
        return
    if user.organisation_id is None or user.organisation_id != organisation.pk or user.role != Role.ADMIN:
        raise Forbidden("Only an administrator of the organisation adds its people.")
    _check_role_grant(user, role)


def _check_role_grant(user, role):
    if role is not None and ROLE_RANK.get(role, 99) > ROLE_RANK.get(user.role, -1):
        raise Forbidden(f"A {user.role} cannot grant the role {role}.", code="role_above_own")


def check_model_correction(user):
    """The catalog's figures are every party's yardstick: the treaty body corrects them."""
    if not (is_registry_admin(user) or speaks_for_treaty_body(user)):
        raise Forbidden("Only the treaty body corrects the catalog.")


def may_correct_chip_model(user, chip):
    """A chip's model is corrected by its manufacturer or the treaty body, never by its holder."""
    if is_registry_admin(user) or speaks_for_treaty_body(user):
        return True
    return (
        _org_kind(user) == OrgKind.MANUFACTURER
        and user.role in WRITE_ROLES
        and user.organisation_id == chip.manufacturer_id
    )


def check_chip_model_correction(user, chip):
    if not may_correct_chip_model(user, chip):
        raise Forbidden(
            "A chip's model is corrected only by its manufacturer or the treaty body.", code="model_correction_reserved"
        )


def chips_with_model_authority(user, queryset):
    """The chips whose model `user` may correct (a manufacturer's own make, every chip for the treaty body)."""
    if is_registry_admin(user) or speaks_for_treaty_body(user):
        return queryset
    if _org_kind(user) == OrgKind.MANUFACTURER and user.role in WRITE_ROLES:
        return queryset.filter(manufacturer_id=user.organisation_id)
    return queryset.none()


def check_chip_change(user, chip, fields, *, holds):
    """Refuse unless `user` may change these `fields` of `chip`; `holds`: the chip is in restrict(user, "change")."""
    fields = set(fields)
    if "custodian" in fields:
        raise Forbidden(
            "Custody moves only through a transfer the receiver confirms (POST /api/v1/transfers/).",
            code="custody_by_transfer",
        )
    if "model" in fields:
        check_chip_model_correction(user, chip)
    if fields & CHIP_HOLDER_FIELDS and not holds:
        raise Forbidden("You may see this chip but not change it.")
