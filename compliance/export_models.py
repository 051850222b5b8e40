"""Destination rules: countries the treaty body forbids as export destinations (compliance.exports).

A sibling of ThresholdRule, not one of its metrics: a threshold compares a measured number of a subject with
a value, and the evaluation walks every rule of a metric over every subject; a destination rule compares a
transfer's countries and chip models with lists, and is read at two moments only (an export's approval, a
receipt across a border). Folding it into ThresholdRule would give every threshold empty country lists and
every evaluation a metric to skip. It keeps ThresholdRule's versioning all the same: a stable `key`, versions
(a new one supersedes the current one), effective_from/effective_to, a log event per version, and the same
RuleQuerySet (readable by all parties, declared by the treaty body only).
"""

from django.db import models

from compliance.models import VersionedRule


class DestinationRule(VersionedRule):
    """One version of a destination rule. An export matches it when its destination is in `destinations`,
    its origin in `origins` (empty: any), and one of its chips is of a model in `chip_models` (empty: any) or,
    with `min_tpp`, of a model whose TPP is at least that (a class of chip, as export controls draw them)."""

    destinations = models.JSONField(help_text="ISO 3166-1 alpha-2 codes of the forbidden destinations.")
    origins = models.JSONField(default=list, blank=True, help_text="Exporting countries it binds; empty: all.")
    chip_models = models.JSONField(default=list, blank=True, help_text="Model slugs it binds; empty: all.")
    min_tpp = models.FloatField(null=True, blank=True, help_text="Binds chips of at least this TPP only.")

    class Meta(VersionedRule.Meta):
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="destination_rule_version_once"),
            models.UniqueConstraint(
                fields=["key"], condition=models.Q(superseded_at__isnull=True), name="one_current_destination_rule"
            ),
        ]

    def forbids(self, origin, destination, models_tpp):
        """Whether this rule forbids an export from `origin` to `destination` of chips of these models
        ({slug: tpp or None})."""
        if destination not in self.destinations or (self.origins and origin not in self.origins):
            return False
        bound = {m: t for m, t in models_tpp.items() if not self.chip_models or m in self.chip_models}
        if self.min_tpp is not None:
            bound = {m: t for m, t in bound.items() if t is not None and t >= self.min_tpp}
        return bool(bound)
