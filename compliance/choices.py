from django.db import models


class Metric(models.TextChoices):
    TPP = "tpp", "Total Processing Performance"
    PEAK_OPS = "peak_ops", "Dense peak OP/s at a precision"
    H100E = "h100e", "H100-equivalents (configured convention)"
    CHIP_COUNT = "chip_count", "Chip count"
    MEMORY = "memory_gb", "Accelerator memory (GB)"
    COMPUTE = "compute_window", "Cumulative compute over a rolling window (FLOP)"
    RUN_PLANNED = "run_planned_compute", "Planned compute of a declared run (FLOP)"


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


# The scopes whose subjects hold chips, with stored aggregates (compliance.aggregates); a run is judged
# at its declaration and by its attested compute (compliance.run_review), not by the capacity evaluation.
CAPACITY_SCOPES = (Scope.CLUSTER, Scope.FACILITY, Scope.CAMPUS, Scope.OPERATOR_COUNTRY)


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
