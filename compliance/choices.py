from django.db import models


class Metric(models.TextChoices):
    TPP = "tpp", "Total Processing Performance"
    PEAK_OPS = "peak_ops", "Dense peak OP/s at a precision"
    H100E = "h100e", "H100-equivalents (configured convention)"
    CHIP_COUNT = "chip_count", "Chip count"
    MEMORY = "memory_gb", "Accelerator memory (GB)"
    COMPUTE = "compute_window", "Cumulative compute over a rolling window (FLOP), every workload"
    UNATTRIBUTED = "unattributed_compute", "Compute attributed to no declared run, over a window (FLOP)"
    RUN_PLANNED = "run_planned_compute", "Planned compute of a declared run (FLOP)"
    RUN_ATTESTED = "run_attested_compute", "Attested compute of a declared run (FLOP)"
    RUN_OVER_PLAN = "run_attested_over_plan", "Attested compute of a declared run over its planned compute (ratio)"
    MODEL_COMPUTE = "model_compute", "Cumulative attested compute of a model over its runs (FLOP)"


class Precision(models.TextChoices):
    FP64 = "fp64", "FP64"
    FP32 = "fp32", "FP32"
    TF32 = "tf32", "TF32"
    BF16 = "bf16", "BF16/FP16"
    FP8 = "fp8", "FP8"
    FP6 = "fp6", "FP6"
    FP4 = "fp4", "FP4"
    INT8 = "int8", "INT8"
    FASTEST = "fastest", "Fastest available"


class Scope(models.TextChoices):
    CLUSTER = "cluster", "Declared cluster"
    FACILITY = "facility", "Facility"
    CAMPUS = "campus", "Campus"
    OPERATOR_COUNTRY = "operator_country", "Operator within a country"
    RUN = "run", "Declared training run"
    MODEL = "model", "Model (an operator's runs of one model name)"
    # compliance.covered: sites joined by co-location, declared links above the rule's bandwidth, or declared
    # joint workloads (the draft agreement's covered chip cluster); and sets of one facility's clusters
    # networked above the rule's bandwidth (EO 14110's computing cluster).
    COVERED_CLUSTER = "covered_cluster", "Covered chip cluster (co-located, networked or run together)"
    DATACENTER_CLUSTER = "datacenter_cluster", "Networked cluster within one datacenter"
    # An operator's chips in a country outside the facilities the treaty body accepted (Article V).
    UNACCEPTED_HOLDINGS = "unaccepted_holdings", "Operator's holdings outside accepted facilities, per country"


# The scopes whose subjects hold chips, with stored aggregates (compliance.aggregates).
CAPACITY_SCOPES = (Scope.CLUSTER, Scope.FACILITY, Scope.CAMPUS, Scope.OPERATOR_COUNTRY)
# The scopes judged by the compute attested for declared runs (compliance.run_metrics): a run, and a model
# (every run an operator declared under one model name).
RUN_SCOPES = (Scope.RUN, Scope.MODEL)
# The scopes whose subjects are components of joined sites (compliance.covered), and those measured by
# capacity alone (no usage is attributed to them: no compute-window rule).
COMPONENT_SCOPES = (Scope.COVERED_CLUSTER, Scope.DATACENTER_CLUSTER)
CAPACITY_ONLY_SCOPES = (*COMPONENT_SCOPES, Scope.UNACCEPTED_HOLDINGS)

_CAPACITY_METRICS = (Metric.TPP, Metric.PEAK_OPS, Metric.H100E, Metric.CHIP_COUNT, Metric.MEMORY)
# Which scopes each metric can be judged on (a rule naming another pairing is refused).
METRIC_SCOPES = {
    **{m: (*CAPACITY_SCOPES, *CAPACITY_ONLY_SCOPES) for m in _CAPACITY_METRICS},
    Metric.COMPUTE: CAPACITY_SCOPES,
    Metric.UNATTRIBUTED: (Scope.FACILITY, Scope.CLUSTER, Scope.COVERED_CLUSTER),
    Metric.RUN_PLANNED: (Scope.RUN,),
    Metric.RUN_ATTESTED: (Scope.RUN,),
    Metric.RUN_OVER_PLAN: (Scope.RUN,),
    Metric.MODEL_COMPUTE: (Scope.MODEL,),
}
# Metrics over a window of usage records (window_days).
WINDOW_METRICS = (Metric.COMPUTE, Metric.UNATTRIBUTED)


class Workload(models.TextChoices):
    """What a usage statement says its chips did (ATTESTATION.md 3.2 `workload`), and `unlabelled` for a
    statement that says nothing: the workloads an `unattributed_compute` rule counts."""

    TRAINING = "training", "Training"
    INFERENCE = "inference", "Inference"
    MIXED = "mixed", "Mixed"
    IDLE = "idle", "Idle"
    OTHER = "other", "Other"
    UNLABELLED = "unlabelled", "Not labelled"


# What an unattributed_compute rule counts unless it says otherwise: everything but inference. Training, and
# work nobody labelled (an operator could otherwise keep its training out of the count by leaving the label
# off), and `mixed` (training among it), `other` and `idle` (a label is the operator's word: a chip called
# idle that ran busy at full power did work, which its usage bound counts, and an idle one adds nothing).
# Inference stays out: serving a model is not training one.
DEFAULT_UNATTRIBUTED_WORKLOADS = [w.value for w in Workload if w != Workload.INFERENCE]


class Comparison(models.TextChoices):
    GT = "gt", ">"
    GE = "ge", "≥"


class Effect(models.TextChoices):
    """What crossing a rule does. Alert: today's threshold alerts. Review and prohibit: a run declared above
    the rule waits for the treaty body's review, or is recorded as prohibited and alerted (run_review)."""

    ALERT = "alert", "Alert"
    REVIEW = "review", "Declare and wait for review"
    PROHIBIT = "prohibit", "Prohibited"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {s: i for i, s in enumerate(Severity.values)}


class AlertState(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed"


class AlertKind(models.TextChoices):
    THRESHOLD = "threshold", "Threshold crossed"
    FINDING = "finding", "Accounts do not balance"
    CLARIFICATION = "clarification", "Clarification overdue"
    # compliance.challenge_alerts: a challenge inspection requested (the notice), a step overdue, access refused
    CHALLENGE = "challenge", "Challenge inspection"
