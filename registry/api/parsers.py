"""CSV upload for bulk registration: the same rows as the JSON list."""

import csv
import io

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser


class CSVParser(BaseParser):
    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            text = stream.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ParseError("The CSV is not UTF-8.") from None
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        try:
            fieldnames = reader.fieldnames  # reads the header row: strict mode refuses a malformed one
        except csv.Error as exc:
            raise ParseError(f"Malformed CSV header: {exc}") from None
        if not fieldnames:
            raise ParseError("The CSV has no header row.")
        header = [name.strip() for name in fieldnames]
        if len(set(header)) != len(header):
            raise ParseError("The CSV header repeats a column.")
        rows = []
        try:
            for record in reader:
                if None in record:
                    raise ParseError(f"Line {reader.line_num} has more fields than the header.")
                # An empty cell means "not given", as a missing JSON member does.
                rows.append({k.strip(): v.strip() for k, v in record.items() if v is not None and v.strip() != ""})
        except csv.Error as exc:
            raise ParseError(f"Malformed CSV at line {reader.line_num}: {exc}") from None
        return rows
