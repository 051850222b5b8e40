"""Manufacturers report the chips they produced.

A manufacturer's report is its word about its own make only (the serials of the organisation it speaks
for), a JSON list of serials, up to CHIPREG_BULK_MAX_ROWS per request, all or nothing; a serial reported
before is kept, not repeated. Each accepted report is one `chips.manufacturer_reported` log event
committing to the SHA-256 of the serials it added. A manufacturer with any report is a reporting party:
a chip of its make registered by anyone else that it never reported is a finding
(inventory.services.watch), and its later report resolves that finding (registry.hooks "chips.reported").
"""

import hashlib

from django.conf import settings
from django.db import transaction

from core.errors import Forbidden, Invalid
from core.permissions import WRITE_ROLES
from protocol.serials import normalize_serial
from registry import hooks
from registry.choices import OrgKind
from registry.models import ManufacturerReport


def report_serials(user, serials):
    """Store the serials `user`'s manufacturer reports; returns (submitted, added, log_index or None)."""
    org = user.organisation if user.organisation_id else None
    if org is None or org.kind != OrgKind.MANUFACTURER or user.role not in WRITE_ROLES:
        raise Forbidden("Only a manufacturer reports the chips it produced.", code="manufacturers_only")
    if not isinstance(serials, list) or not serials:
        raise Invalid("Send `serials`, a non-empty list.", code="invalid")
    if len(serials) > settings.CHIPREG_BULK_MAX_ROWS:
        raise Invalid(f"At most {settings.CHIPREG_BULK_MAX_ROWS} serials per report.", code="too_many_rows")
    try:
        normal = sorted({normalize_serial(s) for s in serials})
    except (ValueError, AttributeError, TypeError):
        raise Invalid("Each serial is 3 to 64 characters of A-Z, 0-9, '.', '_', '-'.", code="invalid") from None
    from transparency.events import append_event

    with transaction.atomic():
        known = ManufacturerReport.objects.filter(manufacturer=org, serial__in=normal)
        known = set(known.values_list("serial", flat=True))
        new = [s for s in normal if s not in known]
        if not new:
            return len(serials), 0, None
        digest = hashlib.sha256("".join(f"{s}\n" for s in new).encode()).hexdigest()
        log_index = append_event(
            "chips.manufacturer_reported",
            f"manufacturer:{org.code}",
            {"manufacturer": org.code, "by": user.username, "serials": len(new), "serials_sha256": digest},
            parties=[org.code],
            countries=[],
        )
        ManufacturerReport.objects.bulk_create(
            [ManufacturerReport(manufacturer=org, serial=s, reported_by=user, log_index=log_index) for s in new],
            batch_size=5000,
            ignore_conflicts=True,
        )
        hooks.fire("chips.reported", manufacturer=org, serials=new, actor=user, log_index=log_index)
    return len(serials), len(new), log_index
