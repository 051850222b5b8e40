"""The tables of the run pages, each declared once for its HTML and its CSV (console.tablespec)."""

from console.tablespec import Column, Table


def _iso(value):
    return value.isoformat() if value else ""


_RUN = '<a href="{% url \'console:run\' row.code %}" class="mono">{{ row.code }}</a>'
_STATE = (
    '<span class="state-word st-{{ row.state }}">{{ row.get_state_display }}</span>'
    '{% if row.withdrawn_at %} <span class="muted small">withdrawn</span>{% endif %}'
)

RUNS = Table(
    "runs",
    "runs.csv",
    (
        Column("Run", _RUN, "run", lambda r: r.code),
        Column("Operator", "{{ row.operator.code }}", "operator", lambda r: r.operator.code),
        Column("Model", "{{ row.model_name }}", "model_name", lambda r: r.model_name),
        Column("Kind", "{{ row.get_kind_display }}", "kind", lambda r: r.kind),
        Column("State", _STATE, "state", lambda r: r.state),
        Column(csv="withdrawn_at", value=lambda r: _iso(r.withdrawn_at)),
        Column("Planned FLOP", "{{ row.planned_flop|num }}", "planned_flop", lambda r: r.planned_flop, css="num"),
        Column(
            "Attested FLOP",
            "{{ row.attested_flop|num }}",
            "attested_flop_fp16",
            lambda r: r.attested_flop,
            css="num",
        ),
        Column(csv="attested_flop_peak", value=lambda r: r.attested.get("flop_peak") or 0.0),
        Column("Of plan (agreement's count)", "{{ row.plan_ratio|pct }}", css="num"),
        Column("Start", "{{ row.planned_start|day }}", "planned_start", lambda r: _iso(r.planned_start), css="small"),
        Column(csv="planned_end", value=lambda r: _iso(r.planned_end)),
        Column("Review due", "{{ row.review_due_at|day }}", "review_due_at", lambda r: _iso(r.review_due_at)),
        Column(csv="countries", value=lambda r: " ".join(r.countries)),
        Column(csv="log_index", value=lambda r: r.log_index),
    ),
    empty="No runs declared in your view.",
)

QUEUE = Table(
    "queue",
    "runs-awaiting-review.csv",
    (
        Column("Run", _RUN, "run", lambda r: r.code),
        Column("Operator", "{{ row.operator.code }}", "operator", lambda r: r.operator.code),
        Column("Model", "{{ row.model_name }}", "model_name", lambda r: r.model_name),
        Column("Planned FLOP", "{{ row.planned_flop|num }}", "planned_flop", lambda r: r.planned_flop, css="num"),
        Column("Countries", '{{ row.countries|join:", " }}', "countries", lambda r: " ".join(r.countries)),
        Column("Declared", "{{ row.declared_at|day }}", "declared_at", lambda r: _iso(r.declared_at)),
        Column("Due", "{{ row.review_due_at|stamp }}", "review_due_at", lambda r: _iso(r.review_due_at)),
        Column(
            "Days left",
            '{% if row.overdue %}<span class="sev sev-high">due</span>{% else %}{{ row.days_left }}{% endif %}',
            "days_left",
            lambda r: r.days_left,
            css="num",
        ),
        Column("Decide", '{% if decides and not row.overdue %}{% include "console/_run_decide.html" %}{% endif %}'),
    ),
    empty="No run awaits review.",
)

DAYS = Table(
    "days",
    "run-days.csv",
    (
        Column("Day", "{{ row.day|day }}", "day", lambda d: d["day"].isoformat()),
        Column("Statements", "{{ row.statements|num }}", "statements", lambda d: d["statements"], css="num"),
        Column("Chip records", "{{ row.records|num }}", "records", lambda d: d["records"], css="num"),
        Column("FLOP (FP16-eq.)", "{{ row.flop_fp16|num }}", "flop_fp16", lambda d: d["flop_fp16"], css="num"),
        Column("FLOP (fastest)", "{{ row.flop_peak|num }}", "flop_peak", lambda d: d["flop_peak"], css="num"),
        Column("Cumulative", "{{ row.cumulative|num }}", "cumulative_fp16", lambda d: d["cumulative"], css="num"),
        Column("Of plan (FP16-eq.)", "{{ row.share|pct }}", "share_of_plan", lambda d: d["share"], css="num"),
    ),
    css="compact",
    empty="No usage attributed to this run yet.",
)

FACILITIES = Table(
    "facilities",
    "run-facilities.csv",
    (
        Column(
            "Facility",
            "<a href=\"{% url 'console:facility' row.facility %}\">{{ row.facility }}</a>",
            "facility",
            lambda f: f["facility"],
        ),
        Column("Statements", "{{ row.statements|num }}", "statements", lambda f: f["statements"], css="num"),
        Column("Chip records", "{{ row.records|num }}", "records", lambda f: f["records"], css="num"),
        Column("FLOP (FP16-eq.)", "{{ row.flop_fp16|num }}", "flop_fp16", lambda f: f["flop_fp16"], css="num"),
        Column("FLOP (fastest)", "{{ row.flop_peak|num }}", "flop_peak", lambda f: f["flop_peak"], css="num"),
    ),
    css="compact",
    empty="No facility has reported work for this run.",
)

CHIPS = Table(
    "chips",
    "run-chips.csv",
    (
        Column("Chip", '<a href="{% chip_url row.chip %}" class="mono">{{ row.chip }}</a>', "chip", "chip"),
        Column("Facility", "{{ row.facility }}", "facility", "facility"),
    ),
    fields=("chip", "facility"),
    css="compact",
    empty="No chip has reported work for this run.",
)
