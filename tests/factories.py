from datetime import timedelta

import factory

from registry.models import Organisation, User


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"org-{n}")
    name = factory.LazyAttribute(lambda o: o.code.upper())
    kind = "operator"
    country = "US"
    jurisdictions = factory.LazyFunction(list)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    organisation = factory.SubFactory(OrganisationFactory)
    role = "member"

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or "pw-for-tests-123")
        if create:
            obj.save(update_fields=["password"])


def chip_rows(prefix, count, model="nvidia-h100-sxm5-80gb", manufacturer="nvidia", **extra):
    """Registration rows for `count` chips with serials PREFIX000000..."""
    return [{"chip": f"{manufacturer}:{prefix}{i:06d}", "model": model, **extra} for i in range(count)]


APPROVED_DAYS_AGO = 30


def approved_export(user, receiver, chips, origin_facility=None, destination_facility=None, reference="LIC-TEST-1"):
    """An approved export authorisation for `user`'s organisation to ship `chips` (public ids) to `receiver`
    (code) across a border, as the exporting country's inspectorate would give it; its id, for a shipment's
    `export_authorisation`. Uses an inspectorate of the origin country, made if the world has none."""
    from inventory.models import Facility
    from inventory.services.exports import record_decision, request_export

    facility = lambda code: Facility.objects.get(code=code) if code else None  # noqa: E731
    auth = request_export(
        user,
        [(i, c, None) for i, c in enumerate(chips, start=1)],
        Organisation.objects.get(code=receiver),
        reference,
        origin_facility=facility(origin_facility),
        destination_facility=facility(destination_facility),
    )
    inspectorate = Organisation.objects.filter(
        kind="inspectorate", jurisdictions__contains=[auth.origin_country]
    ).first() or OrganisationFactory(
        code=f"insp-{auth.origin_country.lower()}-x", kind="inspectorate", jurisdictions=[auth.origin_country]
    )
    inspector = User.objects.filter(organisation=inspectorate, role__in=["admin", "member"]).first() or UserFactory(
        organisation=inspectorate, role="member"
    )
    auth = record_decision(inspector, auth, True, "licensed")
    # Approved before the shipments the tests record under it, which give times in the last days: one shipped
    # before its approval is an export_unauthorised finding (inventory.services.exports.shipped_before_approval).
    type(auth).objects.filter(pk=auth.pk).update(decided_at=auth.decided_at - timedelta(days=APPROVED_DAYS_AGO))
    return str(auth.pk)


def witnessed_disposal(holder, witness, chip_ids, kind="decommissioned"):
    """Chips off the books the only way there is: the holder's request with its evidence, witnessed."""
    from django.utils import timezone

    from registry import disposals

    request = disposals.request_disposal(
        holder,
        kind=kind,
        chip_ids=list(chip_ids),
        method="test",
        place="test site",
        date=timezone.localdate(),
        files=[("certificate.pdf", "application/pdf", b"%PDF-1.4 test")],
    )
    return disposals.decide(witness, request, accept=True)
