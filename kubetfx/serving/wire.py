"""What arrives on the wire, checked before its meaning is: JSON bodies, URL segments, headers.

Everything here answers a client's mistake with a `RequestError` (a 4xx naming the problem and
the limit), never with an exception of Python's own: `str.isdigit()` accepts '²' that `int()`
refuses, `repr` of JSON nested 1000 deep overflows the stack, and orjson refuses the NaN and
Infinity tokens that TF Serving's REST API allows.
"""

from __future__ import annotations

import json
import re
import reprlib
import uuid
from typing import Any

import orjson

from kubetfx.errors import RequestError

_DIGITS = re.compile(r"[0-9]+")  # ASCII only: '²', '⑦' and Arabic-Indic digits are not versions
_REQUEST_ID = re.compile(r"[!-~]+")  # visible ASCII: no spaces, controls or Latin-1 bytes
_NON_FINITE = re.compile(rb"NaN|Infinity")
_INT64_DIGITS = 18  # longer integers are parsed as floats, as orjson does past 64 bits

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 2, 48, 48
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = 4


def show(value: Any) -> str:
    """A short repr for an error message: bounded in length and depth, whatever was sent."""
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def loads(raw: bytes, max_depth: int) -> Any:
    """A JSON body. NaN, Infinity and -Infinity are accepted (TF Serving's JSON allows them);
    nesting deeper than `max_depth` (serving.limits.max_json_depth) is refused."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if not _NON_FINITE.search(raw):
            raise RequestError(f"JSON Parse error: {e}") from e
        body = _loads_non_finite(raw, max_depth)
    # Fewer brackets than the limit cannot nest deeper (two C-speed counts: a one-row body
    # stops here); otherwise the brackets outside strings are read.
    if raw.count(b"[") + raw.count(b"{") > max_depth and nested_deeper(raw, max_depth):
        raise RequestError(_too_deep(max_depth))
    return body


def _too_deep(max_depth: int) -> str:
    return (
        f"JSON Parse error: nested deeper than {max_depth} levels "
        "(serving.limits.max_json_depth); send flat lists of values"
    )


def _loads_non_finite(raw: bytes, max_depth: int) -> Any:
    """The slow path, taken only by a body orjson refused that holds a NaN/Infinity token: the
    standard library parses those, then the result is held to what orjson would accept."""
    try:
        body = json.loads(raw.decode(), parse_int=_parse_int)
    except RecursionError as e:
        raise RequestError(_too_deep(max_depth)) from e
    except ValueError as e:  # UnicodeDecodeError too: the body is not UTF-8
        raise RequestError(f"JSON Parse error: {e}") from e
    if nested_deeper(raw, max_depth):
        raise RequestError(_too_deep(max_depth))
    try:
        orjson.dumps(body)  # an unpaired surrogate escape ("\ud800") is text no one can encode
    except orjson.JSONEncodeError as e:
        raise RequestError(f"JSON Parse error: {e}") from e
    return body


def _parse_int(text: str) -> int | float:
    return int(text) if len(text.lstrip("-")) <= _INT64_DIGITS else float(text)


_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_SQUARE = bytes.maketrans(b"{}", b"[]")


def nested_deeper(raw: bytes, limit: int) -> bool:
    """Whether valid JSON text nests lists/objects deeper than `limit`, read off its brackets
    with C-speed bytes operations (no recursion, no walk of the parsed value): the text
    between strings, its brackets alone, then each pass removes the innermost pairs."""
    if b"\\" in raw:  # escaped quotes must not end a string early
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(raw.split(b'"')[::2]).translate(_SQUARE, _NOT_BRACKETS)
    for _ in range(limit):
        brackets = brackets.replace(b"[]", b"")
        if not brackets:
            return False
    return True


def version(text: str | None, max_digits: int) -> int | None:
    """A version segment of a URL: ASCII digits, at most `max_digits` of them."""
    if text is None:
        return None
    if len(text) > max_digits or not _DIGITS.fullmatch(text):
        raise RequestError(
            f"version must be a non-negative integer of at most {max_digits} ASCII digits "
            f"(serving.limits.max_version_digits), got {show(text)}"
        )
    return int(text)


def content_length(text: str, body_size: int, header: str) -> int:
    """A byte count sent in a header (Inference-Header-Content-Length): within the body."""
    if len(text) > 20 or not _DIGITS.fullmatch(text):
        raise RequestError(f"{header} must be a byte count (ASCII digits), got {show(text)}")
    value = int(text)
    if value > body_size:
        raise RequestError(f"{header} is {value}, but the body has only {body_size} bytes")
    return value


def request_id(header: str | None, max_chars: int) -> str:
    """The client's X-Request-Id if it is short, visible ASCII; otherwise a fresh id (a long or
    binary header is never echoed back or written to the logs)."""
    if header and len(header) <= max_chars and _REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex
