"""Files that come as evidence, checked to be what they say: the rules of compliance.attachments, with the
limits as arguments, for apps below compliance (a disposal's photos and certificates, registry.disposals).

A content type from ALLOWED whose bytes look like it (a PDF starts %PDF-, a PNG with its signature, a JPEG
with its SOI marker, text is UTF-8 without NUL bytes, JSON parses), a plain name, a bounded size. Everything
is checked before anything is written: a bad file refuses the whole request.
"""

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass

from core.errors import Invalid, TooLarge

TEXT_TYPES = ("text/plain", "text/csv")
MAGIC = {
    "application/pdf": b"%PDF-",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
}
ALLOWED = (*MAGIC, *TEXT_TYPES, "application/json")
NAME_RE = re.compile(r"[^\x00-\x1f\x7f/\\]{1,200}")


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    content: bytes

    @property
    def sha256(self):
        return hashlib.sha256(self.content).hexdigest()

    @property
    def size(self):
        return len(self.content)

    def summary(self):
        """What the log records of it: never the bytes."""
        return {"name": self.name, "content_type": self.content_type, "size": self.size, "sha256": self.sha256}


def decode(content_b64, position):
    try:
        return base64.b64decode(content_b64, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise Invalid(f"Attachment {position}: the content is not base64.", code="invalid_attachment") from None


def check(name, content_type, content, position, max_bytes):
    if len(content) > max_bytes:
        raise TooLarge(
            f"Attachment {position} is larger than the {max_bytes} bytes accepted per file.",
            code="attachment_too_large",
            max_bytes=max_bytes,
        )
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise Invalid(
            f"Attachment {position}: a name of 1 to 200 characters, without slashes or control characters.",
            code="invalid_attachment",
        )
    content_type = (content_type or "").split(";")[0].strip().lower()
    if content_type not in ALLOWED:
        raise Invalid(
            f"Attachment {position}: {content_type[:64]!r} is not accepted; send one of {', '.join(ALLOWED)}.",
            code="attachment_type",
            allowed=list(ALLOWED),
        )
    if not content:
        raise Invalid(f"Attachment {position} is empty.", code="invalid_attachment")
    if not _looks_like(content_type, content):
        raise Invalid(
            f"Attachment {position}: its bytes are not {content_type}.", code="attachment_type", allowed=list(ALLOWED)
        )
    return Attachment(name, content_type, bytes(content))


def check_all(files, max_count, max_bytes):
    """[(name, content_type, bytes)] -> [Attachment], refusing the lot if one is wrong or there are too many."""
    if len(files) > max_count:
        raise Invalid(f"At most {max_count} attachments; got {len(files)}.", code="too_many_attachments")
    return [check(name, ct, content, i, max_bytes) for i, (name, ct, content) in enumerate(files)]


def _looks_like(content_type, content):
    if content_type in MAGIC:
        return content.startswith(MAGIC[content_type])
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if "\x00" in text:
        return False
    if content_type == "application/json":
        try:
            json.loads(text)
        except ValueError:
            return False
    return True


def download_name(prefix, name):
    """A file name safe in a Content-Disposition header (ASCII, no quotes)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "attachment"
    return f"{prefix}-{safe[:100]}"
