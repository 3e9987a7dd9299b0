"""Recognises byte and text constants that are themselves pickles, raw or base64/hex encoded.

A pickle that carries another pickle as data is a classic way to hide a payload from scanners
that only look at the outer stream: the inner one runs as soon as something calls
``pickle.loads`` on it. Recognition is cheap (a look at the first bytes) so that tensor data
and long strings cost next to nothing; only plausible candidates are parsed.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

__all__ = ["Embedded", "embedded_pickles", "looks_like_pickle"]

#: Shorter constants cannot hold an import and a call; skip them.
MIN_PICKLE_SIZE = 8

# First bytes of protocol 0/1 pickles (after PROTO for 2+): the openers real picklers emit.
_PROTO01_OPENERS = frozenset(b"c(]})NIJKLMFGSTUVXBCPi\x8c\x95")

_BASE64 = re.compile(rb"[A-Za-z0-9+/\-_\s]+={0,2}\s*")
_HEX = re.compile(rb"(?:[0-9A-Fa-f]{2})+")


@dataclass(frozen=True)
class Embedded:
    """Bytes that look like a pickle, and how they were found inside the constant.

    ``exact_offsets`` is true when the bytes appear verbatim in the outer data, so that offsets
    inside them can be reported as offsets in the file.
    """

    data: bytes
    encoding: str
    exact_offsets: bool


def looks_like_pickle(data: bytes) -> bool:
    """Whether ``data`` starts the way a pickle does (cheap, no parsing)."""
    if len(data) < MIN_PICKLE_SIZE:
        return False
    if data[0] == 0x80:
        return data[1] <= 5
    return data[0] in _PROTO01_OPENERS


def _decode_base64(raw: bytes) -> bytes | None:
    if len(raw) < 12 or not _BASE64.fullmatch(raw):
        return None
    compact = re.sub(rb"\s+", b"", raw)
    altchars = b"-_" if (b"-" in compact or b"_" in compact) else None
    # Look at a prefix first so that megabytes of unrelated base64 are never decoded.
    try:
        head = base64.b64decode(compact[:16], altchars=altchars)
    except (binascii.Error, ValueError):
        return None
    if not (head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5) and (
        head[:1] not in {bytes([b]) for b in _PROTO01_OPENERS}
    ):
        return None
    padded = compact + b"=" * (-len(compact) % 4)
    try:
        return base64.b64decode(padded, altchars=altchars)
    except (binascii.Error, ValueError):
        return None


def _decode_hex(raw: bytes) -> bytes | None:
    if len(raw) < 2 * MIN_PICKLE_SIZE or not _HEX.fullmatch(raw[:64]):
        return None
    head = bytes.fromhex(raw[:4].decode("ascii"))
    if head[0] != 0x80 and head[0] not in _PROTO01_OPENERS:
        return None
    if not _HEX.fullmatch(raw):
        return None
    return bytes.fromhex(raw.decode("ascii"))


def embedded_pickles(value: bytes | bytearray | str, *, verbatim: bool) -> list[Embedded]:
    """Candidate pickles inside one constant: the bytes themselves, or their base64/hex text.

    ``verbatim`` says the constant's bytes appear as is in the outer data (BINBYTES and
    friends), which keeps offsets exact.
    """
    if isinstance(value, str):
        # A program turns text into pickle bytes with .encode("latin-1"), which is also how
        # protocol 0/1 strings map back to their bytes.
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            # Text beyond latin-1 cannot be the image of a pickle; it may still be base64.
            raw = value.encode("utf-8", "surrogatepass")
            verbatim = False
    else:
        raw = bytes(value)
    found: list[Embedded] = []
    if looks_like_pickle(raw):
        found.append(Embedded(raw, "raw" if not isinstance(value, str) else "text", verbatim))
        return found
    decoded = _decode_base64(raw)
    if decoded is not None and looks_like_pickle(decoded):
        found.append(Embedded(decoded, "base64", False))
        return found
    decoded = _decode_hex(raw)
    if decoded is not None and looks_like_pickle(decoded):
        found.append(Embedded(decoded, "hex", False))
    return found
