"""The append-only Merkle log (LOG.md): leaves, stored subtree hashes,
event data, signed checkpoints, witnesses and their cosignatures.

Storage: each leaf row keeps its leaf hash, and LogNode keeps the hash of
every complete, aligned subtree of NODE_LEVEL_MIN or more levels (16 leaves
and up). A node below that level is folded from the (at most 8) leaf hashes
it covers, so a proof or a root is still one query, for O(log n) node rows and
the leaf hashes of at most a few blocks of 16 leaves, while an append writes
one row per leaf and one node row per 8 leaves.
"""

from django.db import models

from core.querysets import RestrictedQuerySet

LEVEL_SHIFT = 56  # node key = level << 56 | k: one bigint primary key per node
# The lowest level stored in LogNode. Part of the storage format: changing it
# needs a migration that adds or removes the node rows in between.
NODE_LEVEL_MIN = 4


def node_key(level, k):
    return (level << LEVEL_SHIFT) | k


class LogHead(models.Model):
    """The single row every writer locks: the log's size is the next index."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)


class LogLeaf(models.Model):
    index = models.BigIntegerField(primary_key=True)
    leaf = models.BinaryField()
    hash = models.BinaryField()  # the leaf hash, SHA-256(0x00 || leaf): level 0 of the tree
    kind = models.CharField(max_length=16)  # "attestation" or "event"
    appended_at = models.DateTimeField()

    class Meta:
        ordering = ["index"]


class LogNode(models.Model):
    """A complete, aligned subtree hash of NODE_LEVEL_MIN or more levels."""

    key = models.BigIntegerField(primary_key=True)
    hash = models.BinaryField()


class LogEventData(models.Model):
    """The data an event leaf commits to (its JCS bytes hash to data_sha256)."""

    index = models.BigIntegerField(primary_key=True)
    event = models.CharField(max_length=64, db_index=True)
    object_id = models.CharField(max_length=200, db_index=True)
    data_jcs = models.TextField()
    # Who may read the data besides treaty bodies: the organisations it names
    # and the inspectorates of the countries it concerns.
    parties = models.JSONField(default=list)
    countries = models.JSONField(default=list)

    def visible_to(self, user):
        if not (user and user.is_authenticated):
            return False
        if user.is_superuser:
            return True
        org = getattr(user, "organisation", None)
        if org is None:
            return False
        if org.kind == "treaty_body" or org.code in self.parties or "*" in self.parties:  # "*": events.EVERY_PARTY
            return True
        return org.kind == "inspectorate" and bool(set(org.jurisdictions or []) & set(self.countries))


class Checkpoint(models.Model):
    size = models.BigIntegerField(unique=True)
    root = models.BinaryField()
    note = models.TextField()
    signed_at = models.DateTimeField()

    class Meta:
        ordering = ["size"]


class WitnessKeyQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # Witness keys are public: anyone may check a cosignature.
        if action == "view":
            return self
        return self.filter(organisation=org.code) if org is not None else self.none()


class WitnessKey(models.Model):
    """A witness's cosigning key. Who registered it is stored by value (the organisation's code, the
    user's name, as its `witness.registered` log event states them): the log answers for its witnesses
    on its own, and transparency holds no foreign key into registry (the import graph points down)."""

    organisation = models.CharField(max_length=32, db_index=True)  # registry.Organisation.code
    name = models.CharField(max_length=200, unique=True)
    public_key = models.BinaryField()
    key_line = models.CharField(max_length=400)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)  # the registering user's username
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = WitnessKeyQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            # A key under a second name would relabel its holder's cosignatures (LOG.md section 3): once, even
            # when two registrations race.
            models.UniqueConstraint(fields=["public_key"], name="one_witness_name_per_key"),
        ]


class Cosignature(models.Model):
    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.PROTECT, related_name="cosignatures")
    witness = models.ForeignKey(WitnessKey, on_delete=models.PROTECT, related_name="cosignatures")
    line = models.TextField()
    timestamp = models.BigIntegerField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["checkpoint", "witness"], name="one_cosignature_per_witness")]
