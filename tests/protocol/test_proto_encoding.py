"""Strict base64 and JSON, and chip-id normalisation."""

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import encoding, serials
from protocol.errors import InvalidChipId, ProtocolError
from tests.protocol.helpers import FAST

# --- base64 ---------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=100))
def test_b64_accepts_all_four_spellings(data):
    std = base64.b64encode(data).decode()
    url = base64.urlsafe_b64encode(data).decode()
    for s in (std, std.rstrip("="), url, url.rstrip("=")):
        assert encoding.b64decode_any(s) == data
    assert encoding.b64encode(data) == std


@pytest.mark.parametrize(
    "bad",
    [
        "QQ=",
        "QQ===",
        "Q",
        "QUJD=",
        "QU JD",
        "QUJD\n",
        " QUJD",
        "QU+_",
        "QR==",
        "QUI=x",
        "=QUJ",
        "QU=D",
        "QUJ\u00e9",
        "QUJD-+",
    ],
)
def test_b64_refuses(bad):
    with pytest.raises(ProtocolError) as e:
        encoding.b64decode_any(bad)
    assert e.value.code == "malformed_envelope"


def test_b64_code_is_the_callers_and_non_str_refused():
    with pytest.raises(ProtocolError) as e:
        encoding.b64decode_any(b"QUJD", code="invalid_checkpoint")
    assert e.value.code == "invalid_checkpoint"


def test_b64_non_canonical_tail_refused():
    # "QR==" and "QQ==" would both decode to b"A"; only the canonical one passes.
    assert encoding.b64decode_any("QQ==") == b"A"
    assert encoding.b64decode_any("QUI") == b"AB"
    with pytest.raises(ProtocolError):
        encoding.b64decode_any("QUJ")


# --- strict JSON ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        b'{"a":1,"a":1}',
        b'{"x":{"a":1,"b":{"c":[{"d":1,"d":2}]}}}',
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":-Infinity}',
        b'{"a":1e999}',
        b'{"a":-1E+400}',
        b'{"a":' + b"1" * 400 + b".5}",
        b'{"a":' + b"1" * 5000 + b"}",
        b'\xef\xbb\xbf{"a":1}',
        b'{"a":"\xff"}',
        b'{"a":"\\ud800"}',
        b"[1,2]",
        b'"str"',
        b"",
        b"{",
        b"[" * 100000 + b"]" * 100000,
        b'{"a":1} {}',
    ],
)
def test_strict_json_refuses(bad):
    with pytest.raises(ProtocolError) as e:
        encoding.strict_json_loads(bad)
    assert e.value.code == "malformed_statement"


def test_strict_json_accepts_and_code_is_the_callers():
    assert encoding.strict_json_loads(b'{"a":"\\ud83d\\ude00","b":1e-400,"c":1e308}') == {
        "a": "\U0001f600",
        "b": 0.0,
        "c": 1e308,
    }
    assert encoding.strict_json_loads(b"[1]", require_object=False) == [1]
    with pytest.raises(ProtocolError) as e:
        encoding.strict_json_loads(b'{"a":1,"a":2}', code="malformed_envelope")
    assert e.value.code == "malformed_envelope"


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=25,
)


def _dicts(obj, out):
    if isinstance(obj, dict):
        if obj:
            out.append(obj)
        for v in obj.values():
            _dicts(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _dicts(v, out)
    return out


def _dump_with_duplicate(obj, target) -> str:
    if isinstance(obj, dict):
        items = [f"{json.dumps(k)}:{_dump_with_duplicate(v, target)}" for k, v in obj.items()]
        if obj is target:
            k, v = next(iter(obj.items()))
            items.append(f"{json.dumps(k)}:{_dump_with_duplicate(v, target)}")
        return "{" + ",".join(items) + "}"
    if isinstance(obj, list):
        return "[" + ",".join(_dump_with_duplicate(v, target) for v in obj) + "]"
    return json.dumps(obj)


@FAST
@given(st.dictionaries(st.text(max_size=6), JSON_VALUES, min_size=1, max_size=4), st.data())
def test_strict_json_refuses_duplicates_at_any_depth(obj, data):
    text = json.dumps(obj)
    assert encoding.strict_json_loads(text.encode()) == json.loads(text)
    candidates = _dicts(obj, [])
    target = candidates[data.draw(st.integers(0, len(candidates) - 1))]
    with pytest.raises(ProtocolError):
        encoding.strict_json_loads(_dump_with_duplicate(obj, target).encode())


def test_jcs_and_sha256():
    assert encoding.jcs({"b": 1, "a": [1.0, "x"]}) == b'{"a":[1,"x"],"b":1}'
    assert encoding.sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# --- serials -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("1653824019022", "1653824019022"), ("  abc-1.x_Y \n", "ABC-1.X_Y"), ("a" * 64, "A" * 64), ("sn.", "SN.")],
)
def test_normalize_serial(raw, normal):
    assert serials.normalize_serial(raw) == normal


@pytest.mark.parametrize(
    "bad", ["ab", "a" * 65, "ab c", "ab\tc", "ab:c", "abß", "straße", "ab/c", "", "   ", "ＡＢＣ", None, 123]
)
def test_normalize_serial_refuses(bad):
    with pytest.raises(InvalidChipId) as e:
        serials.normalize_serial(bad)
    assert e.value.code == "malformed_serial"
    assert isinstance(e.value, ValueError)


@FAST
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=70))
def test_normalize_serial_idempotent(s):
    try:
        once = serials.normalize_serial(s)
    except InvalidChipId:
        return
    assert serials.normalize_serial(once) == once
    assert serials.SERIAL_RE.fullmatch(once)


@FAST
@given(st.from_regex(r"[ \t]{0,2}[a-zA-Z0-9._-]{3,64}[ \t]{0,2}", fullmatch=True))
def test_normalize_serial_accepts_every_valid_spelling(s):
    assert serials.normalize_serial(s) == s.strip().upper()


def test_chip_ids():
    assert serials.parse_chip_id("nvidia:1653824019022") == ("nvidia", "1653824019022")
    assert serials.format_chip_id(" NVIDIA ", "abc-1") == "nvidia:ABC-1"
    assert serials.normalize_chip_id("Nvidia:abc-1") == "nvidia:ABC-1"
    assert serials.normalize_manufacturer("amd") == "amd"
    for bad in [
        "nvidia:abc-1",
        "nvidia:AB",
        "NVIDIA:ABC",
        "nvidia",
        ":ABC",
        "-x:ABC",
        "nvidia:ABC:D",
        "nvidia: ABC",
        5,
        "a" * 33 + ":ABC",
    ]:
        with pytest.raises(ValueError):
            serials.parse_chip_id(bad)
    for bad in ["nvidia : ABC", "nvidia:AB", "x", "-nv:ABC"]:
        with pytest.raises(InvalidChipId):
            serials.normalize_chip_id(bad)
    with pytest.raises(InvalidChipId):
        serials.normalize_manufacturer("nv idia")
