from django.db import models


class RunKind(models.TextChoices):
    PRE_TRAINING = "pre_training", "Pre-training"
    POST_TRAINING = "post_training", "Post-training"
    FINE_TUNING = "fine_tuning", "Fine-tuning"


class RunPrecision(models.TextChoices):
    """The number format most of the run's operations use, as the operator declares it."""

    FP32 = "fp32", "FP32"
    TF32 = "tf32", "TF32"
    BF16 = "bf16", "BF16"
    FP16 = "fp16", "FP16"
    FP8 = "fp8", "FP8"
    FP6 = "fp6", "FP6"
    FP4 = "fp4", "FP4"
    INT8 = "int8", "INT8"
    MIXED = "mixed", "Mixed"


class RunState(models.TextChoices):
    """Where a declaration stands in the treaty body's review (runs.models.Run says who moves it)."""

    BELOW_THRESHOLD = "below_threshold", "Recorded (below the review threshold)"
    UNDER_REVIEW = "under_review", "Under review"
    APPROVED = "approved", "Approved"
    APPROVED_BY_SILENCE = "approved_by_silence", "Approved by silence"
    OBJECTED = "objected", "Objected to"
    PROHIBITED = "prohibited", "Prohibited"


# The states a treaty body's decision or the review period's end can move a run out of.
OPEN_STATES = (RunState.UNDER_REVIEW,)
