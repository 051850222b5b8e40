"""Accelerator models and their public figures, with a history of corrections."""

from django.conf import settings
from django.db import models

from core.querysets import RestrictedQuerySet
from registry.catalog import total_processing_performance
from registry.choices import Confidence, OrgKind

# The figures of a model, each kept in the revision history. `tpp` is derived from the throughput
# figures (registry.catalog.total_processing_performance), never set by itself: DERIVED_FIELDS.
FIGURE_FIELDS = (
    "architecture",
    "year",
    "fp64_tflops",
    "fp32_tflops",
    "tf32_tflops",
    "bf16_tflops",
    "fp8_tflops",
    "fp6_tflops",
    "fp4_tflops",
    "int8_tops",
    "memory_gb",
    "memory_tbps",
    "tdp_w",
    "tpp",
    "source",
    "confidence",
)
DERIVED_FIELDS = ("tpp",)


class AcceleratorModelQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # Specifications are public. Corrections come from treaty bodies,
        # whose figures every party's thresholds depend on.
        if action == "view":
            return self
        return self if org.kind == OrgKind.TREATY_BODY else self.none()


class AcceleratorModel(models.Model):
    manufacturer = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="models")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    architecture = models.CharField(max_length=50, blank=True, default="")
    year = models.PositiveSmallIntegerField(null=True, blank=True)
    # Dense peak figures per chip, TFLOP/s (TOP/s for int8); null = no such mode.
    fp64_tflops = models.FloatField(null=True, blank=True)
    fp32_tflops = models.FloatField(null=True, blank=True)
    tf32_tflops = models.FloatField(null=True, blank=True)
    bf16_tflops = models.FloatField(null=True, blank=True)
    fp8_tflops = models.FloatField(null=True, blank=True)
    fp6_tflops = models.FloatField(null=True, blank=True)
    fp4_tflops = models.FloatField(null=True, blank=True)
    int8_tops = models.FloatField(null=True, blank=True)
    memory_gb = models.FloatField(null=True, blank=True)
    memory_tbps = models.FloatField(null=True, blank=True)
    tdp_w = models.FloatField(null=True, blank=True)
    # Total Processing Performance, derived from the figures above on every save; stored because every
    # aggregate sums it in SQL.
    tpp = models.FloatField(null=True, blank=True, editable=False)
    # Where the figures come from: a document name or URL (registry/data/README.md).
    source = models.TextField(blank=True, default="")
    confidence = models.CharField(max_length=8, choices=Confidence.choices, default=Confidence.LOW)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AcceleratorModelQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["manufacturer", "name"], name="model_unique_per_manufacturer")]

    def __str__(self):
        return f"{self.manufacturer.code} {self.name}"

    def save(self, *args, **kwargs):
        self.derive()
        super().save(*args, **kwargs)

    def derive(self):
        """Recompute the derived figures from the others, so no path stores a TPP its figures contradict."""
        self.tpp = total_processing_performance(self.figures())

    def figures(self):
        return {f: getattr(self, f) for f in FIGURE_FIELDS}

    @property
    def h100e(self):
        from registry.catalog import h100_equivalents

        return h100_equivalents(self)


class AcceleratorModelRevision(models.Model):
    """One correction of a model's figures: append-only, never purged."""

    model = models.ForeignKey(AcceleratorModel, on_delete=models.PROTECT, related_name="revisions")
    at = models.DateTimeField(auto_now_add=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    before = models.JSONField()
    after = models.JSONField()
    # The `model.corrected` log event that records this correction (none for
    # revisions older than the event).
    log_index = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
