from django.db import models


class Metric(models.TextChoices):
    TPP = "tpp", "Total Processing Performance"
    PEAK_OPS = "peak_ops", "Dense peak OP/s at a precision"
    H100E = "h100e", "H100-equivalents (configured convention)"
    CHIP_COUNT = "chip_count", "Chip count"
    MEMORY = "memory_gb", "Accelerator memory (GB)"
    COMPUTE = "compute_window", "Cumulative compute over a rolling window (FLOP)"


class Precision(models.TextChoices):
    FP64 = "fp64", "FP64"
    FP32 = "fp32", "FP32"
    TF32 = "tf32", "TF32"
    BF16 = "bf16", "BF16/FP16"
    FP8 = "fp8", "FP8"
    INT8 = "int8", "INT8"
    FASTEST = "fastest", "Fastest available"


class Scope(models.TextChoices):
    CLUSTER = "cluster", "Declared cluster"
    FACILITY = "facility", "Facility"
    CAMPUS = "campus", "Campus"
    OPERATOR_COUNTRY = "operator_country", "Operator within a country"
    # compliance.covered: sites joined by co-location, declared links above the rule's bandwidth, or declared
    # joint workloads (the draft agreement's covered chip cluster); and sets of one facility's clusters
    # networked above the rule's bandwidth (EO 14110's computing cluster).
    COVERED_CLUSTER = "covered_cluster", "Covered chip cluster (co-located, networked or run together)"
    DATACENTER_CLUSTER = "datacenter_cluster", "Networked cluster within one datacenter"
    # An operator's chips in a country outside the facilities the treaty body accepted (Article V).
    UNACCEPTED_HOLDINGS = "unaccepted_holdings", "Operator's holdings outside accepted facilities, per country"


# The scopes whose subjects are components of joined sites (compliance.covered), and those measured by
# capacity alone (no usage is attributed to them: no compute-window rule).
COMPONENT_SCOPES = (Scope.COVERED_CLUSTER, Scope.DATACENTER_CLUSTER)
CAPACITY_ONLY_SCOPES = (*COMPONENT_SCOPES, Scope.UNACCEPTED_HOLDINGS)


class Comparison(models.TextChoices):
    GT = "gt", ">"
    GE = "ge", "≥"


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
