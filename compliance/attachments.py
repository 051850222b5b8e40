"""Files that come with an answer: few, small, of a few plain kinds, each checked to be what it says.

An answer is evidence a treaty party reads, so an attachment is bounded and dull: a content
type from ALLOWED whose bytes look like it (a PDF starts %PDF-, a PNG with its signature, a
JPEG with its SOI marker, text is UTF-8 without NUL bytes, JSON parses), at most
CHIPREG_ANSWER_ATTACHMENTS_MAX files of at most CHIPREG_ANSWER_ATTACHMENT_MAX_BYTES each.
The bytes are kept in the database with their SHA-256; the log event of the answer commits
to the hashes. Served back only as a download (`Content-Disposition: attachment`, nosniff).

Everything is checked before anything is written: a bad file refuses the whole answer. The rules are
core.attachments' (a disposal's evidence is checked by the same); here are an answer's limits.
"""

from django.conf import settings

from core import attachments as rules
from core.attachments import ALLOWED, MAGIC, TEXT_TYPES, Attachment, decode  # noqa: F401  (this module's API)


def limits():
    return settings.CHIPREG_ANSWER_ATTACHMENTS_MAX, settings.CHIPREG_ANSWER_ATTACHMENT_MAX_BYTES


def check(name, content_type, content, position):
    """An Attachment, or the refusal that says what is wrong with file `position` (0-based)."""
    return rules.check(name, content_type, content, position, limits()[1])


def check_all(files):
    """[(name, content_type, bytes)] -> [Attachment], refusing the lot if one is wrong or there are too many."""
    return rules.check_all(files, *limits())


def download_name(attachment):
    """A file name safe in a Content-Disposition header (ASCII, no quotes)."""
    return rules.download_name(f"answer-{attachment.answer_id}-{attachment.position}", attachment.name)
