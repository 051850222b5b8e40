"""COPY ... FROM STDIN of lines built by the caller.

`copy_lines` writes lines already formatted in COPY's text format, in
blocks: for the 100,000-row streams of a statement, where most columns are
one constant per statement, formatting a line from a constant head and tail
is about twice as fast as psycopg adapting every value of every row.
`text_value` formats one value (escaped) for such a constant part.
"""

from datetime import datetime

BLOCK = 20_000  # lines per write: a bounded buffer, few calls
NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def text_value(value):
    """One value in COPY's text format."""
    if value is None:
        return NULL
    if isinstance(value, str):  # a str enum (TextChoices) too: its value, escaped
        return str.translate(value, _ESCAPES)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def copy_lines(cursor, table, columns, lines):
    """Stream lines already in COPY's text format (each ending in a newline); return the count.

    The caller answers for the escaping: every field must be a `text_value`,
    or a value that cannot contain a tab, a newline, a carriage return or a
    backslash (an int, or a string its parser restricted to a safe alphabet).
    """
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        block = []
        for line in lines:
            block.append(line)
            if len(block) >= BLOCK:
                copy.write("".join(block))
                count += len(block)
                block = []
        if block:
            copy.write("".join(block))
            count += len(block)
    return count
