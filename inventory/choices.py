from django.db import models


class FacilityStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    ACTIVE = "active", "Active"
    DECOMMISSIONED = "decommissioned", "Decommissioned"


class FacilityReview(models.TextChoices):
    """The treaty body's answer to an operator's facility declaration (draft agreement, Article V.1)."""

    DECLARED = "declared", "Declared, not yet reviewed"
    ACCEPTED = "accepted", "Accepted as a declared facility"
    REFUSED = "refused", "Refused"


class ClusterPurpose(models.TextChoices):
    TRAINING = "training", "Training"
    INFERENCE = "inference", "Inference"
    MIXED = "mixed", "Mixed"
    RESEARCH = "research", "Research"
    OTHER = "other", "Other"


class PlacementSource(models.TextChoices):
    DECLARATION = "declaration", "Operator declaration"
    TRANSFER = "transfer", "Transfer receipt"
    ATTESTATION = "attestation", "Location attestation"


class ExportStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REFUSED = "refused", "Refused"
    REVOKED = "revoked", "Revoked"  # approved, then withdrawn by the exporting inspectorate before any use


class TransferStatus(models.TextChoices):
    IN_TRANSIT = "in_transit", "In transit"
    RECEIVED = "received", "Received"
    CANCELLED = "cancelled", "Cancelled"


class FindingKind(models.TextChoices):
    # Reconciliation (material balance)
    UNACCOUNTED = "unaccounted", "On the books, absent from a physical listing"
    UNEXPECTED = "unexpected", "In a physical listing, not on the books"
    WRONG_CLUSTER = "wrong_cluster", "In another cluster than the books say"
    # A location statement naming a cluster its facility has not declared (a signed statement is not refused for
    # it, as an API declaration is: its chips are placed in no cluster, and the inspectors learn of the name).
    UNKNOWN_CLUSTER = "unknown_cluster", "Listed in a cluster the facility has not declared"
    UNKNOWN_CHIP = "unknown_chip", "Not registered"
    # A usage statement naming chips the books place at another facility all through its period, and never at
    # the one it names: their work counted where the operator says, not where the chips are (a covered chip
    # cluster's work named at a facility outside it). One finding a statement, naming where they are.
    USAGE_ELSEWHERE = "usage_elsewhere", "Usage reported at a facility the books place the chips elsewhere than"
    # A usage statement received more than CHIPREG_USAGE_FILING_GRACE_H after its period ended: counted all the
    # same (in the fullest window around its period end), and seen.
    LATE_FILING = "late_filing", "Usage reported later than the filing grace after its period"
    # Transfers
    NEVER_RECEIVED = "never_received", "Shipped but never received"
    NOT_SHIPPED = "received_not_shipped", "Received but never shipped"
    RECEIVED_ELSEWHERE = "received_elsewhere", "Received at another facility than declared"
    # Exports (inventory.services.exports; compliance.exports for destination rules)
    EXPORT_UNAUTHORISED = "export_unauthorised", "Received across a border without an approved export authorisation"
    EXPORT_FORBIDDEN = "export_forbidden", "Received in a country a destination rule forbids"
    # Continuity of knowledge
    SILENT = "silent_chip", "No verification within the window"
    # Raised by compliance.hardware_continuity: chips of a covered cluster that did not prove themselves
    HARDWARE_UNVERIFIED = "hardware_unverified", "No verified hardware evidence within the window"
    # Attestations (the attestations app raises these)
    OTHER_OPERATOR = "other_operator", "Registered to another operator"
    IMPOSSIBLE_TRAVEL = "impossible_travel", "Could not have travelled there in time"
    TWO_PLACES = "two_places", "Seen in two facilities at overlapping times"
    IMPLAUSIBLE_USAGE = "implausible_usage", "Usage beyond what the hardware can do"
    RTT_IMPOSSIBLE = "rtt_impossible", "Farther from a landmark than its RTT allows"
    REVOKED_KEY = "revoked_key", "Signed by a key revoked as compromised"
    # Facility records (the country a facility declares, against its coordinates)
    COUNTRY_UNCLEAR = "country_unclear", "Near a border: the coordinates cannot tell the country"
    COUNTRY_CHANGED = "country_changed", "A facility's country changed"
    # Chips placed across a border by a declaration or a location statement (a transfer is logged for both)
    LEFT_COUNTRY = "left_country", "Chips moved to another country without a transfer"
    # Usage statements naming a declared run (ATTESTATION.md 3.2 `run`): not attributed to it
    RUN_UNKNOWN = "run_unknown", "Names a run that was never declared"
    RUN_NOT_OWN = "run_not_own", "Names another operator's run"
    RUN_BEFORE_DECLARATION = "run_before_declaration", "Reports work for a run from before its declaration"
    RUN_WITHDRAWN = "run_withdrawn", "Reports work for a run its operator withdrew"
    RUN_OBJECTED = "run_objected", "Reports work for a run the treaty body objected to"
    RUN_PROHIBITED = "run_prohibited", "Reports work for a prohibited run"
    RUN_OTHER_SITE = "run_other_site", "Reports work for a run at a facility it did not declare"
    RUN_OUTSIDE_PLAN = "run_outside_plan", "Reports work for a run outside its planned dates"
    # Hardware evidence (HARDWARE.md 5): per-chip problems of an evidence statement, and enrolments
    EVIDENCE_INVALID = "evidence_invalid", "Hardware evidence that does not verify"
    EVIDENCE_STALE = "evidence_stale", "Hardware evidence made for another nonce"
    IDENTITY_MISMATCH = "identity_mismatch", "Another device identity than the one enrolled for the chip"
    IDENTITY_DUPLICATE = "identity_duplicate", "A device identity enrolled for another chip"
    IDENTITY_ENROLLED = "identity_enrolled", "Device identity enrolled on first use (informational)"
    # Challenge inspections (inventory.services.challenges) and seals compared between inspections of a site
    SEEN_UNREGISTERED_SITE = "seen_unregistered_site", "Seen at a site that is no registered facility"
    SEAL_MISSING = "seal_missing", "A seal applied at the last inspection is missing"
    SEAL_BROKEN = "seal_broken", "A seal found broken"
    SEAL_CHANGED = "seal_changed", "Another seal than the last inspection applied"
    # Chips leaving the books (issue #19; inventory.services.watch)
    LOST_OR_STOLEN = "lost_or_stolen", "Reported lost or stolen"
    LOST_CHIP_SIGHTED = "lost_chip_sighted", "A lost or stolen chip seen again"
    UNREPORTED_CHIP = "unreported_chip", "Not reported by its manufacturer"


class FindingSource(models.TextChoices):
    DECLARATION = "declaration", "Declaration"
    INSPECTION = "inspection", "Inspection"
    ATTESTATION = "attestation", "Attestation"
    TRANSFER = "transfer", "Transfer"
    MONITOR = "monitor", "Continuity monitor"
    FACILITY = "facility", "Facility record"
    ENROLMENT = "enrolment", "Device identity enrolment"
    CHALLENGE = "challenge", "Challenge inspection"
    REGISTRY = "registry", "Registry record"


class ChallengeState(models.TextChoices):
    """A challenge inspection's steps (inventory.services.challenges): notified, acknowledged, access decided,
    then recorded. Overdue steps are marked on the row (acknowledge_overdue_at, access_overdue_at), not a state:
    a late acknowledgement still moves it on."""

    REQUESTED = "requested", "Requested, awaiting acknowledgement"
    ACKNOWLEDGED = "acknowledged", "Acknowledged, awaiting access"
    ACCESS_GRANTED = "access_granted", "Access granted"
    ACCESS_REFUSED = "access_refused", "Access refused"
    RECORDED = "recorded", "Inspected and recorded"
