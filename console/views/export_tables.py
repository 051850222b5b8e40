"""The tables of the export approvals page, each declared once for its HTML and its CSV (console.tablespec)."""

from console.tablespec import Column, Table


def _iso(value):
    return value.isoformat() if value else ""


_COMMON = (
    Column("Authorisation", '<span class="mono small">{{ row.pk }}</span>', "id", lambda r: str(r.pk)),
    Column("Reference", '<span class="mono">{{ row.reference }}</span>', "reference", lambda r: r.reference),
    Column("Exporter", "{{ row.exporter.code }}", "exporter", lambda r: r.exporter.code),
    Column("Receiver", "{{ row.receiver.code }}", "receiver", lambda r: r.receiver.code),
    Column(
        "From → to",
        "{{ row.origin_country }} → {{ row.destination_country }}"
        '{% if row.destination_facility %} <span class="muted small">{{ row.destination_facility.code }}</span>'
        "{% endif %}",
        "route",
        lambda r: f"{r.origin_country}-{r.destination_country}",
    ),
    Column(csv="destination_facility", value=lambda r: r.destination_facility.code if r.destination_facility else ""),
    Column("Chips", "{{ row.chip_count }}", "chips", lambda r: r.chip_count, css="num"),
    Column("Models", '{{ row.chip_models|join:", " }}', "chip_models", lambda r: " ".join(r.chip_models)),
    Column("Requested", "{{ row.requested_at|stamp }}", "requested_at", lambda r: _iso(r.requested_at)),
)

PENDING = Table(
    "pending",
    "export-approvals-pending.csv",
    (
        *_COMMON,
        Column("Decide", '{% if decides %}{% include "console/_export_decide.html" %}{% endif %}'),
    ),
    empty="No export awaits your decision.",
)

ALL = Table(
    "exports",
    "export-authorisations.csv",
    (
        *_COMMON,
        Column(
            "Status",
            '<span class="state-word st-{{ row.status }}">{{ row.get_status_display }}</span>',
            "status",
            lambda r: r.status,
        ),
        Column(
            "Decided by",
            "{{ row.decided_by_organisation.code|default:'' }}",
            "decided_by",
            lambda r: r.decided_by_organisation.code if r.decided_by_organisation else "",
        ),
        Column("Reason", "{{ row.reason|truncatechars:80 }}", "reason", lambda r: r.reason),
        Column(
            "Valid until",
            "{{ row.valid_until|when }}",
            "valid_until",
            lambda r: r.valid_until.isoformat() if r.valid_until else "",
        ),
        Column(
            "Revoked because",
            "{{ row.revocation_reason|truncatechars:80 }}",
            "revocation_reason",
            lambda r: r.revocation_reason,
        ),
        Column("Shipped", "{% if row.transfer_id %}yes{% endif %}", "transfer", lambda r: str(r.transfer_id or "")),
        Column(csv="decision_log_index", value=lambda r: r.decision_log_index),
        Column(csv="revocation_log_index", value=lambda r: r.revocation_log_index),
    ),
    empty="No export authorisation in your view.",
)
