"""Abstract models the apps share (no table of their own here)."""

from django.db import models


class StoredAttachment(models.Model):
    """A file that came as evidence (core.attachments checked it): stored whole, bounded, logged by its
    SHA-256, in its place among its parent's files. The concrete model adds the parent and its manager."""

    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    content = models.BinaryField()

    class Meta:
        abstract = True
