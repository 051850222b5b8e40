from django.db import models


class TipState(models.TextChoices):
    NEW = "new", "New"
    IN_CASE = "in_case", "In a case"
    DISMISSED = "dismissed", "Dismissed"


class CaseState(models.TextChoices):
    OPEN = "open", "Open"
    UNDER_INSPECTION = "under_inspection", "Under inspection"
    CLOSED = "closed", "Closed"


class LinkKind(models.TextChoices):
    TIP = "tip", "Tip"
    FINDING = "finding", "Finding"
    ALERT = "alert", "Alert"
    ANSWER = "answer", "Answer"
    CLARIFICATION = "clarification", "Request for clarification"
    # Built by another part of issue 19 (inventory); validated by casework.links once it exists.
    CHALLENGE_INSPECTION = "challenge_inspection", "Challenge inspection"


class TriageAction(models.TextChoices):
    NEW_CASE = "new_case", "Open a new case"
    ADD_TO_CASE = "add_to_case", "Add to an existing case"
    DISMISS = "dismiss", "Dismiss"
