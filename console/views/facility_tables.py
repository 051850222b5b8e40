"""The facility page's tables: each one spec for the page and its `?format=csv&table=` download."""

from console.tablespec import Column, Table


def _iso(value):
    return value.isoformat() if value else ""


def _stamp(field, header, csv=None, value=None, **kwargs):
    """A time shown short, its full form in the cell's title."""
    return Column(
        header,
        "{{ row." + field + "|stamp }}",
        csv,
        value,
        css="stamp",
        title="{{ row." + field + "|when }}",
        **kwargs,
    )


# The book now: raw values_list tuples in this order, for the page's 50 rows and the download's million alike.
INVENTORY_FIELDS = (
    "id",
    "chip__manufacturer__code",
    "chip__serial",
    "chip__model__name",
    "chip__status",
    "cluster__code",
    "valid_from",
    "source",
    "source_id",
    "log_index",
)
INVENTORY = Table(
    "inventory",
    "inventory.csv",
    (
        Column(
            "Chip",
            '{% with chip=row.chip__manufacturer__code|chip_id:row.chip__serial %}<a href="{% chip_url chip %}">'
            "{{ chip }}</a>{% endwith %}",
            "chip",
            lambda ms: f"{ms[0]}:{ms[1]}",
            css="nowrap",
            key=("chip__manufacturer__code", "chip__serial"),
        ),
        Column("Model", "{{ row.chip__model__name }}", "model", "chip__model__name"),
        Column("Status", '{{ row.chip__status|label:"chip_status" }}', "status", "chip__status"),
        Column("Cluster", '{{ row.cluster__code|default:"—" }}', "cluster", lambda c: c or "", key="cluster__code"),
        _stamp("valid_from", "Since", "valid_from", lambda v: v.isoformat(), key="valid_from"),
        Column(
            "Source",
            '{{ row.source|label:"placement_source" }} {{ row.source_id|truncatechars:14 }}',
            "source",
            "source",
            css="small",
        ),
        Column(csv="source_id", value="source_id"),
        Column("Log", '{{ row.log_index|default_if_none:"—" }}', "log_index", "log_index", css="num"),
    ),
    css="compact",
    fields=INVENTORY_FIELDS,
)

# Rows: {"rule", "value", "ratio", "crossed", "bar"} (RuleValues.rows), the facility's and each cluster's.
RULES = Table(
    "thresholds",
    "thresholds.csv",
    (
        Column(
            "Rule",
            '{{ row.rule.name }} <span class="muted small">{{ row.rule.key }} v{{ row.rule.version }}</span>',
            "rule",
            lambda r: f"{r['rule'].key} v{r['rule'].version}",
        ),
        Column(csv="name", value=lambda r: r["rule"].name),
        Column(
            "Metric",
            "{{ row.rule.metric }}{% if row.rule.precision %} {{ row.rule.precision }}{% endif %}"
            "{% if row.rule.window_days %}, {{ row.rule.window_days }} days{% endif %}",
            "metric",
            lambda r: r["rule"].metric,
            css="small nowrap",
        ),
        Column(csv="comparison", value=lambda r: r["rule"].comparison),
        Column(csv="threshold", value=lambda r: r["rule"].value),
        Column("Value", "{{ row.value|num }}", "value", "value", css="num"),
        Column("Threshold", "{{ row.rule.get_comparison_display }} {{ row.rule.value|num }}", css="num"),
        Column(csv="ratio", value=lambda r: round(r["ratio"], 6)),
        Column("Share", "{{ row.bar }}", css="barcol"),
        Column(csv="crossed", value="crossed"),
        Column(
            "State",
            '{% if row.crossed %}{% include "console/_severity.html" with s=row.rule.severity %} crossed'
            '{% else %}<span class="muted">below ({{ row.ratio|pct }})</span>{% endif %}',
            "severity",
            lambda r: r["rule"].severity,
        ),
    ),
    css="compact",
    row_css="{% if row.crossed %}crossed{% endif %}",
    empty="No rule of this scope is in force.",
)


def cluster_csv_rows(cluster_rows):
    """One row per (cluster, rule in force), or one with no rule: the clusters download's rows."""
    for row in cluster_rows:
        for r in row["rules"] or [None]:
            yield {"cluster": row["cluster"], "aggregate": row["aggregate"], "rule": r}


def _agg(field):
    return lambda r: getattr(r["aggregate"], field) if r["aggregate"] else 0


def _rule(get):
    return lambda r: get(r["rule"]) if r["rule"] else ""


# Download only: the page shows each cluster as a heading over its RULES table.
CLUSTERS = Table(
    "clusters",
    "clusters.csv",
    (
        Column(csv="cluster", value=lambda r: r["cluster"].code),
        Column(csv="purpose", value=lambda r: r["cluster"].purpose),
        Column(csv="interconnect_gbps", value=lambda r: r["cluster"].interconnect_gbps),
        Column(csv="chips", value=_agg("chip_count")),
        Column(csv="h100e", value=_agg("h100e")),
        Column(csv="tpp", value=_agg("tpp")),
        Column(csv="rule", value=_rule(lambda r: f"{r['rule'].key} v{r['rule'].version}")),
        Column(csv="metric", value=_rule(lambda r: r["rule"].metric)),
        Column(csv="value", value=_rule(lambda r: r["value"])),
        Column(csv="threshold", value=_rule(lambda r: r["rule"].value)),
        Column(csv="crossed", value=_rule(lambda r: r["crossed"])),
    ),
)

# Download only: the page draws these (day, FLOP) pairs as a chart.
USAGE = Table(
    "usage",
    "attested-compute.csv",
    (
        Column(csv="day", value=lambda d: d.isoformat(), key="day"),
        Column(csv="flop_fp16", value="flop_fp16"),
    ),
    fields=("day", "flop_fp16"),
)

# Rows: {"attestation", "findings"} (findings on the page only: its latest ten's, at most five shown).
ATTESTATIONS = Table(
    "attestations",
    "attestations.csv",
    (
        Column("#", "{{ row.attestation.pk }}", "id", lambda r: r["attestation"].pk),
        Column(
            "Kind",
            '{{ row.attestation.kind }}{% if row.attestation.scope %} <span class="muted">'
            "({{ row.attestation.scope }})</span>{% endif %}{% if row.attestation.flagged %} "
            '<span class="sev sev-high">revoked key</span>{% endif %}',
            "kind",
            lambda r: r["attestation"].kind,
        ),
        Column(
            "Operator",
            '{{ row.attestation.operator.code|default:"—" }}',
            "operator",
            lambda r: r["attestation"].operator.code if r["attestation"].operator else "",
        ),
        Column(csv="scope", value=lambda r: r["attestation"].scope),
        Column(csv="issued_at", value=lambda r: r["attestation"].issued_at.isoformat()),
        Column(
            "When",
            "{% with a=row.attestation %}{% if a.kind == 'usage' %}{{ a.period_start|when }} – "
            "{{ a.period_end|when }}{% else %}{{ a.observed_at|when }}{% endif %}{% endwith %}",
            css="small",
        ),
        Column(csv="observed_at", value=lambda r: _iso(r["attestation"].observed_at)),
        Column(csv="period_start", value=lambda r: _iso(r["attestation"].period_start)),
        Column(csv="period_end", value=lambda r: _iso(r["attestation"].period_end)),
        Column(
            "Chips", "{{ row.attestation.chip_count|num }}", "chips", lambda r: r["attestation"].chip_count, css="num"
        ),
        Column(
            "Log",
            '{{ row.attestation.log_index|default_if_none:"—" }}',
            "log_index",
            lambda r: r["attestation"].log_index,
            css="num",
        ),
        Column(csv="flagged", value=lambda r: r["attestation"].flagged),
        Column(csv="statement_sha256", value=lambda r: r["attestation"].statement_sha256),
        Column(
            "Findings",
            '{% for f in row.findings|slice:":5" %}<div><code>{{ f.kind }}</code> {% if f.chip %}'
            '<a href="{% chip_url f.chip_ref %}">{{ f.chip_ref }}</a>{% else %}{{ f.chip_ref }}{% endif %}</div>'
            '{% empty %}<span class="muted">none</span>{% endfor %}{% if row.findings|length > 5 %}'
            '<div class="muted">and {{ row.findings|length|add:"-5" }} more</div>{% endif %}',
            css="small",
        ),
    ),
    css="compact",
    row_css="{% if row.attestation.flagged %}flagged{% endif %}",
)

FINDINGS = Table(
    "findings",
    "findings.csv",
    (
        Column(csv="id", value=lambda f: f.pk),
        _stamp("detected_at", "Detected"),
        Column(
            "Kind",
            "<a href=\"{% url 'console:finding' row.pk %}\"><code>{{ row.kind }}</code></a>",
            "kind",
            lambda f: f.kind,
        ),
        Column(
            "Chip",
            '{% if row.chip_id %}<a href="{% chip_url row.chip_ref %}">{{ row.chip_ref }}</a>'
            '{% else %}{{ row.chip_ref|default:"—" }}{% endif %}',
            "chip",
            lambda f: f.chip_ref,
        ),
        Column("Source", "{{ row.source }} {{ row.source_id|truncatechars:14 }}", css="small"),
        Column(csv="source", value=lambda f: f.source),
        Column(csv="source_id", value=lambda f: f.source_id),
        Column(csv="detected_at", value=lambda f: f.detected_at.isoformat()),
        Column("Detail", "{{ row.detail }}", css="small"),
        _stamp("resolved_at", "Resolved", "resolved_at", lambda f: _iso(f.resolved_at)),
        Column(csv="detail", value=lambda f: f.detail),
    ),
    css="compact",
)

INSPECTIONS = Table(
    "inspections",
    "inspections.csv",
    (
        Column("#", "<a href=\"{% url 'console:inspection' row.pk %}\">{{ row.pk }}</a>", "id", lambda i: i.pk),
        _stamp("performed_at", "Performed", "performed_at", lambda i: i.performed_at.isoformat()),
        Column("Inspectorate", "{{ row.inspectorate.code }}", "inspectorate", lambda i: i.inspectorate.code),
        Column("Observed", "{{ row.observed_count|num }}", "observed", lambda i: i.observed_count, css="num"),
        Column(csv="inspectors", value=lambda i: ";".join(i.inspectors)),
        Column(csv="seals", value=lambda i: ";".join(i.seals_checked)),
        Column(csv="log_index", value=lambda i: i.log_index),
    ),
    css="compact",
)


def transfer_rows(transfers, facility):
    """{"transfer", "inbound"}: inbound when it was sent or delivered to this facility."""
    for t in transfers:
        inbound = t.destination_facility_id == facility.pk or t.received_facility_id == facility.pk
        yield {"transfer": t, "inbound": inbound}


def _place(end):
    return lambda r: (
        getattr(r["transfer"], f"{end}_facility").code
        if getattr(r["transfer"], f"{end}_facility")
        else getattr(r["transfer"], f"{end}_country")
    )


TRANSFERS = Table(
    "transfers",
    "transfers.csv",
    (
        Column(csv="id", value=lambda r: r["transfer"].pk),
        Column(csv="status", value=lambda r: r["transfer"].status),
        _stamp("transfer.shipped_at", "Shipped"),
        Column(csv="shipper", value=lambda r: r["transfer"].shipper.code),
        Column(csv="receiver", value=lambda r: r["transfer"].receiver.code),
        Column(
            "From",
            "{% with t=row.transfer %}{{ t.shipper.code }} {% if t.origin_facility %}{{ t.origin_facility.code }}"
            "{% else %}{{ t.origin_country }}{% endif %}{% endwith %}",
            "origin",
            _place("origin"),
        ),
        Column(
            "To",
            "{% with t=row.transfer %}{{ t.receiver.code }} {% if t.destination_facility %}"
            "{{ t.destination_facility.code }}{% else %}{{ t.destination_country }}{% endif %}{% endwith %}",
            "destination",
            _place("destination"),
        ),
        Column(
            "Status",
            '{% if row.inbound %}<span class="muted">in</span>{% else %}<span class="muted">out</span>{% endif %} '
            "{{ row.transfer.get_status_display }}{% if row.transfer.received_at %} "
            "{{ row.transfer.received_at|day }}{% endif %}",
        ),
        Column(csv="shipped_at", value=lambda r: r["transfer"].shipped_at.isoformat()),
        Column(csv="received_at", value=lambda r: _iso(r["transfer"].received_at)),
    ),
    css="compact",
)


# The material balance's discrepancies: stored items as values_list tuples (page and download), or the
# live reconciliation's Discrepancy objects as the same tuples (id None).
DISCREPANCIES = Table(
    "discrepancies",
    "reconciliation.csv",
    (
        Column("Kind", "<code>{{ row.kind }}</code>", "kind", "kind"),
        Column(
            "Chip",
            '{% if row.chip_pk %}<a href="{% chip_url row.chip_ref %}">{{ row.chip_ref }}</a>'
            "{% else %}{{ row.chip_ref }}{% endif %}",
            "chip",
            "chip_ref",
        ),
        Column("Source", "{{ row.source }} {{ row.source_id|truncatechars:14 }}", "source", "source", css="small"),
        Column(csv="source_id", value="source_id"),
        Column(
            "Book cluster",
            '{{ row.book_cluster|default:"—" }}',
            "book_cluster",
            lambda c: c or "",
            key="book_cluster",
        ),
        Column(
            "Listed cluster",
            '{{ row.listed_cluster|default:"—" }}',
            "listed_cluster",
            lambda c: c or "",
            key="listed_cluster",
        ),
    ),
    css="compact",
    fields=("id", "kind", "chip_ref", "source", "source_id", "book_cluster", "listed_cluster", "chip_pk"),
)
