from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from core.countries import validate_country, validate_country_list
from core.querysets import RestrictedQuerySet
from registry.choices import OrgKind, Role

# Organisation codes double as the manufacturer slug in chip ids
# (`nvidia:1653824019022`), so they follow that slug's rules.
org_code_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{0,31}$", "Use 1-32 lower-case letters, digits and '-', starting with a letter or digit."
)


class OrganisationQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # The list of parties is a public directory. An organisation's own
        # administrators may edit its record, the treaty body's may edit any;
        # which fields each may change is registry.authority's to decide.
        if action == "view" or user.is_staff:
            return self
        if user.role == Role.ADMIN:
            return self if org.kind == OrgKind.TREATY_BODY else self.filter(pk=org.pk)
        return self.none()


class Organisation(models.Model):
    code = models.CharField(max_length=32, unique=True, validators=[org_code_validator])
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=OrgKind.choices)
    country = models.CharField(
        max_length=2, blank=True, default="", validators=[validate_country], help_text="Home country (operators)."
    )
    jurisdictions = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_country_list],
        help_text="ISO 3166-1 alpha-2 codes an inspectorate covers.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return self.code

    def clean(self):
        # An operator's chips lie in its country until a facility places them elsewhere: an operator of no
        # country would hold chips counted in no country's totals (Article V's holdings, operator-country).
        if self.kind == OrgKind.OPERATOR and not self.country:
            raise ValidationError({"country": "An operator is registered with its home country."})


class UserQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        if action != "view" and user.is_staff:
            return self
        qs = self.filter(organisation=org)
        if action == "view":
            return qs
        # Superusers and staff are the registry's own administrators, even when
        # they belong to an organisation: its admins never manage them.
        return qs.filter(is_superuser=False, is_staff=False) if user.role == Role.ADMIN else self.none()


class ChipregUserManager(UserManager.from_queryset(UserQuerySet)):
    pass


class User(AbstractUser):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="users", null=True, blank=True
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.READ_ONLY)

    objects = ChipregUserManager()

    @property
    def org_kind(self):
        return self.organisation.kind if self.organisation_id else None

    @property
    def can_write(self):
        return self.is_superuser or self.role in (Role.ADMIN, Role.MEMBER)
