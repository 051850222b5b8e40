from django.db import models


class OrgKind(models.TextChoices):
    TREATY_BODY = "treaty_body", "Treaty body"
    INSPECTORATE = "inspectorate", "Inspectorate"
    OPERATOR = "operator", "Operator"
    MANUFACTURER = "manufacturer", "Manufacturer"


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    MEMBER = "member", "Member"
    READ_ONLY = "read-only", "Read-only"


class ChipStatus(models.TextChoices):
    MANUFACTURED = "manufactured", "Manufactured"
    IN_TRANSIT = "in_transit", "In transit"
    INSTALLED = "installed", "Installed"
    DECOMMISSIONED = "decommissioned", "Decommissioned"
    DESTROYED = "destroyed", "Destroyed"
    LOST = "lost", "Lost"
    STOLEN = "stolen", "Stolen"


S = ChipStatus
# Allowed status transitions. `destroyed` is final: a destroyed chip that
# reappears is a new finding, not a status change. Lost and stolen chips can be
# recovered into any live state. `destroyed` and `decommissioned` are reached only by a witnessed disposal
# request (DISPOSAL_STATUSES below), so an installed chip may be destroyed: someone watched it happen.
STATUS_TRANSITIONS = {
    S.MANUFACTURED: {S.IN_TRANSIT, S.INSTALLED, S.DECOMMISSIONED, S.DESTROYED, S.LOST, S.STOLEN},
    S.IN_TRANSIT: {S.INSTALLED, S.MANUFACTURED, S.LOST, S.STOLEN},
    S.INSTALLED: {S.IN_TRANSIT, S.DECOMMISSIONED, S.DESTROYED, S.LOST, S.STOLEN},
    S.DECOMMISSIONED: {S.INSTALLED, S.IN_TRANSIT, S.DESTROYED, S.LOST, S.STOLEN},
    S.DESTROYED: set(),
    S.LOST: {S.MANUFACTURED, S.IN_TRANSIT, S.INSTALLED, S.DECOMMISSIONED, S.DESTROYED, S.STOLEN},
    S.STOLEN: {S.MANUFACTURED, S.IN_TRANSIT, S.INSTALLED, S.DECOMMISSIONED, S.DESTROYED, S.LOST},
}


# Statuses that take chips off the books: never on the holder's word alone. The holder asks (a disposal
# request with its evidence), an inspector of the chips' country or the treaty body witnesses it, and only
# then does the status change (registry.disposals). Until then the chips count and stay under continuity.
DISPOSAL_STATUSES = frozenset({S.DESTROYED, S.DECOMMISSIONED})
# Statuses that take effect at once but put the chip on the watch list and raise an alert
# (registry.hooks "chips.lost"); a later sighting of such a chip is a critical finding.
WATCHED_STATUSES = frozenset({S.LOST, S.STOLEN})


class DisposalKind(models.TextChoices):
    DESTROYED = "destroyed", "Destruction"
    DECOMMISSIONED = "decommissioned", "Decommissioning"


class DisposalState(models.TextChoices):
    PENDING = "pending", "Awaiting witness"
    ACCEPTED = "accepted", "Witnessed and accepted"
    REFUSED = "refused", "Refused"


class ChipEventKind(models.TextChoices):
    STATUS = "status", "Status changed"
    CUSTODY = "custody", "Custody changed"
    IDENTITY = "identity", "Identity changed"
    MODEL = "model", "Model corrected"


class Confidence(models.TextChoices):
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
