"""Landmark servers (the round-trip-time anchors), registered by a treaty body and logged."""

from django.db import transaction

from attestations.models import Landmark
from core.errors import Forbidden
from registry.choices import OrgKind
from transparency.events import EVERY_PARTY, append_event


def authorise(user):
    org = user.organisation
    if org is None or org.kind != OrgKind.TREATY_BODY:
        raise Forbidden("Only a treaty body registers landmarks.")
    return org


@transaction.atomic
def register_landmark(user, fields):
    """Create the landmark from validated `fields` and append `landmark.registered`, in one transaction."""
    org = authorise(user)
    landmark = Landmark.objects.create(organisation=org, **fields)
    landmark.log_index = append_event(
        "landmark.registered",
        landmark.code,
        {
            "code": landmark.code,
            "organisation": org.code,
            "latitude": landmark.latitude,
            "longitude": landmark.longitude,
        },
        # Read by every party, as the landmark is (GET landmarks/): RTT statements about facilities in every
        # country are judged against it.
        parties=[EVERY_PARTY],
        countries=[],
    )
    landmark.save(update_fields=["log_index"])
    return landmark
