"""The dashboard's and the map's tables: each one spec for the page and its `?format=csv&table=` download."""

from console.tablespec import Column, Table

# Rows: {"severity", "label", "n"}, every severity, critical first.
BY_SEVERITY = Table(
    "alerts",
    "open-alerts-by-severity.csv",
    (
        Column("Severity", '{% include "console/_severity.html" with s=row.severity %}', "severity", "severity"),
        Column(
            "Open",
            "{% if row.n %}<a href=\"{% url 'console:alerts' %}?state=open&amp;severity={{ row.severity }}\">"
            "{{ row.n|num }}</a>{% else %}0{% endif %}",
            "open",
            "n",
            css="num",
        ),
    ),
    css="compact",
    foot='<tr><th>Total open</th><th class="num"><a href="{% url \'console:alerts\' %}?state=open">'
    "{{ total|num }}</a></th></tr>",
)

# Rows: {"aggregate", "rule", "value", "ratio", "bar"} (dashboard.nearest_thresholds).
NEAREST = Table(
    "nearest",
    "facilities-nearest-threshold.csv",
    (
        Column(
            "Facility",
            "<a href=\"{% url 'console:facility' row.aggregate.label %}\">{{ row.aggregate.label }}</a> "
            '<span class="muted">{{ row.aggregate.country }}</span>',
            "facility",
            lambda r: r["aggregate"].label,
        ),
        Column(csv="country", value=lambda r: r["aggregate"].country),
        Column(
            "Rule",
            '{{ row.rule.name }}<br><span class="muted">{{ row.value|num }} {{ row.rule.get_comparison_display }} '
            "{{ row.rule.value|num }} ({{ row.rule.metric }})</span>",
            css="small",
        ),
        Column(csv="rule", value=lambda r: f"{r['rule'].key} v{r['rule'].version}"),
        Column(csv="metric", value=lambda r: r["rule"].metric),
        Column(csv="value", value="value"),
        Column(csv="threshold", value=lambda r: r["rule"].value),
        Column("Share of threshold", "{{ row.bar }}", css="barcol"),
        Column("%", "{{ row.ratio|pct }}", "ratio", lambda r: round(r["ratio"], 6), css="num"),
    ),
    css="compact",
)

# Rows: {"country", "operators", "chips", "h100e", "tpp"} (operator-country aggregates summed), "bar" on the page.
COUNTRIES = Table(
    "countries",
    "chips-by-country.csv",
    (
        Column("Country", "{{ row.country }}", "country", "country"),
        Column("Operators", "{{ row.operators|num }}", "operators", "operators", css="num"),
        Column("Chips", "{{ row.chips|num }}", "chips", "chips", css="num"),
        Column("H100e", "{{ row.h100e|num }}", "h100e", "h100e", css="num"),
        Column(csv="tpp", value="tpp"),
        Column("", "{{ row.bar }}", css="barcol"),
    ),
    css="compact",
)


def _agg(field):
    return lambda r: getattr(r["aggregate"], field)


# Rows: {"aggregate"} (an operator-country Aggregate), "bar" on the page.
OPERATORS = Table(
    "operators",
    "chips-by-operator-and-country.csv",
    (
        Column(
            "Operator",
            '{{ row.aggregate.operator.code|default:"—" }}',
            "operator",
            lambda r: r["aggregate"].operator.code if r["aggregate"].operator else "",
        ),
        Column("Country", "{{ row.aggregate.country }}", "country", _agg("country")),
        Column("Chips", "{{ row.aggregate.chip_count|num }}", "chips", _agg("chip_count"), css="num"),
        Column("H100e", "{{ row.aggregate.h100e|num }}", "h100e", _agg("h100e"), css="num"),
        Column("TPP", "{{ row.aggregate.tpp|num }}", "tpp", _agg("tpp"), css="num"),
        Column(csv="memory_gb", value=_agg("memory_gb")),
        Column(csv="updated_at", value=lambda r: r["aggregate"].updated_at.isoformat()),
        Column("", "{{ row.bar }}", css="barcol"),
    ),
    css="compact",
)

# What a statement is and where it was made: the dashboard's and the submissions page's tables share them.
STATEMENT_COLUMNS = (
    Column(
        "Kind",
        '{{ row.kind }}{% if row.scope %} <span class="muted">({{ row.scope }})</span>{% endif %}',
        "kind",
        lambda a: a.kind,
    ),
    Column(
        "Operator",
        '{{ row.operator.code|default:"—" }}',
        "operator",
        lambda a: a.operator.code if a.operator else "",
    ),
    Column(
        "Facility",
        "<a href=\"{% url 'console:facility' row.facility.code %}\">{{ row.facility.code }}</a>",
        "facility",
        lambda a: a.facility.code,
        css="nowrap",
    ),
)

ATTESTATIONS = Table(
    "attestations",
    "recent-attestations.csv",
    (
        Column("#", "{{ row.pk }}", "id", lambda a: a.pk),
        *STATEMENT_COLUMNS,
        Column(
            "Issued",
            "{{ row.issued_at|stamp }}",
            "issued_at",
            lambda a: a.issued_at.isoformat(),
            css="stamp",
            title="{{ row.issued_at|when }}",
        ),
        Column("Chips", "{{ row.chip_count|num }}", "chips", lambda a: a.chip_count, css="num"),
        Column("Log", '{{ row.log_index|default_if_none:"—" }}', "log_index", lambda a: a.log_index, css="num"),
        Column(csv="flagged", value=lambda a: a.flagged),
    ),
    css="compact",
    row_css="{% if row.flagged %}flagged{% endif %}",
)

REJECTIONS = Table(
    "rejections",
    "recent-rejections.csv",
    (
        Column(csv="id", value=lambda r: r.pk),
        Column("When", "{{ row.at|stamp }}", "at", lambda r: r.at.isoformat(), css="stamp", title="{{ row.at|when }}"),
        Column("Organisation", "{{ row.organisation.code }}", "organisation", lambda r: r.organisation.code),
        Column(csv="user", value=lambda r: r.user.username),
        Column(csv="status", value=lambda r: r.status),
        Column("Code", "<code>{{ row.code }}</code>", "code", lambda r: r.code),
        Column("Reason", "{{ row.detail|truncatechars:140 }}", css="small"),
        Column(csv="detail", value=lambda r: r.detail),
    ),
    css="compact",
)

# Rows: the map's points {"code", "name", "operator", "country", "lat", "lon", "state", "href"}.
MAP = Table(
    "facilities",
    "facilities-map.csv",
    (
        Column("Facility", '<a href="{{ row.href }}">{{ row.code }}</a>', "facility", "code"),
        Column("Name", "{{ row.name }}", "name", "name"),
        Column("Operator", "{{ row.operator }}", "operator", "operator"),
        Column("Country", "{{ row.country }}", "country", "country"),
        Column("Latitude", "{{ row.lat }}", "latitude", "lat", css="num"),
        Column("Longitude", "{{ row.lon }}", "longitude", "lon", css="num"),
        Column(
            "Alerts",
            "<span class=\"state state-{{ row.state }}\">{% if row.state == 'high' %}high/critical open"
            "{% elif row.state == 'other' %}open{% else %}none open{% endif %}</span>",
            "alert_state",
            "state",
        ),
    ),
    css="compact",
)
