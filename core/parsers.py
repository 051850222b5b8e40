"""The API's JSON parser: DRF's, refusing what no view can use as a clear 400 before any view sees it.

- JSON nested past Python's recursion limit (`[[[[...` 5000 deep) raised RecursionError out of
  `json.loads`, which DRF does not catch: a 500. It is malformed JSON (`malformed_json`), like any
  document the parser cannot read.
- A string (a value or a member name) holding NUL (`\\u0000`) or an unpaired surrogate (`\\ud800`)
  is valid JSON, but PostgreSQL text and jsonb cannot hold a NUL, and an unpaired surrogate is no
  UTF-8 at all: it reached the database (a DataError, or a UnicodeEncodeError in psycopg: a 500),
  a log line or a hash before anything refused it. Refused here as `invalid`, the code the API
  already gives a NUL the database refuses (core.problems), whatever field holds it.

Both escapes are found by a scan of the text first, so a large body without them (a bulk upload)
is not walked. RowJSONParser leaves such strings to the view: the bulk chip registration judges
its rows one by one and names the row and field that holds one (`invalid_rows`).
"""

import codecs
import re

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

# A `\u` escape of NUL or of a surrogate, not itself escaped (`\\u0000` is a backslash and "u0000").
_SUSPECT_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def unstorable(text):
    """Whether a str holds a NUL or a surrogate (paired ones are two characters only in broken decoders)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _first_unstorable(data):
    """The path (a list of keys and indexes) of the first string in `data` that cannot be stored, or None."""
    stack = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if unstorable(value):
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                if unstorable(key):
                    return (*path, key)
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, i), item) for i, item in enumerate(value))
    return None


def _where(path):
    from core.errors import storable

    return "/" + "/".join(storable(p) for p in path) if path else "the body"


class JSONParser(parsers.JSONParser):
    refuse_unstorable = True

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = codecs.getreader(encoding)(stream).read()
            data = json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc
        if self.refuse_unstorable and _SUSPECT_ESCAPE.search(text):
            path = _first_unstorable(data)
            if path is not None:
                from core.problems import Problem  # not at the top: core.problems loads DRF, which loads this

                raise Problem(
                    400,
                    "invalid",
                    f"A string in the request ({_where(path)}) holds a NUL character or an unpaired surrogate, "
                    "which the registry cannot store.",
                )
        return data


class RowJSONParser(JSONParser):
    """For bulk uploads whose view refuses a NUL or a surrogate itself, naming the row and field."""

    refuse_unstorable = False
