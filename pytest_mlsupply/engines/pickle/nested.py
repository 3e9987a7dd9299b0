"""Recognises byte and text constants that are themselves pickles, raw or base64/hex encoded.

A pickle that carries another pickle as data is a classic way to hide a payload from scanners
that only look at the outer stream: the inner one runs as soon as something calls
``pickle.loads`` on it. Recognition is cheap (a look at the first bytes) so that tensor data
and long strings cost next to nothing; only plausible candidates are parsed.

The same recognition serves string values of structured documents (JSON configs, tokenizer
files, safetensors and GGUF metadata: :mod:`pytest_mlsupply.engines.strings`). There, with a
:class:`DecodeBudget`, compressed pickles are also peeled (gzip, zlib, bz2, xz, lzma, lz4, zstd,
raw or inside base64/hex, through the bounded layer :mod:`pytest_mlsupply.engines.decompress`),
and :func:`might_hold_pickle` is the cheap gate run on every string before anything is decoded.
A string need not be one encoding as a whole: runs of base64, hex, base32, base85 and ascii85
inside it, escape text, and a raw pickle after a label are found too (see ``_inside``).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import io
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pytest_mlsupply.engines.decompress import Codec, codec_by_magic, decompress

__all__ = [
    "DecodeBudget",
    "Embedded",
    "embedded_pickles",
    "looks_like_pickle",
    "might_hold_pickle",
]

#: Shorter constants cannot hold an import and a call; skip them.
MIN_PICKLE_SIZE = 8

# First bytes of protocol 0/1 pickles (after PROTO for 2+): the openers real picklers emit.
_PROTO01_OPENERS = frozenset(b"c(]})NIJKLMFGSTUVXBCPi\x8c\x95")

_BASE64 = re.compile(rb"[A-Za-z0-9+/\-_\s]+={0,2}\s*")
_HEX = re.compile(rb"(?:[0-9A-Fa-f]{2})+")
_WHITESPACE = re.compile(rb"\s+")
# A pickle can only call something it imports: GLOBAL and INST end their names with a newline,
# STACK_GLOBAL is 0x93, EXT1/2/4 fetch from the extension registry. Without any of these
# bytes a pickle is inert data.
_IMPORTING = re.compile(rb"[\n\x82\x83\x84\x93]")
_IMPORTING_TEXT = re.compile("[\n\x82\x83\x84\x93]")
#: First bytes worth decoding a string for: a pickle's, or a compressed stream's.
_INTERESTING = frozenset(_PROTO01_OPENERS | {0x80, 0x1F, 0x78, 0x42, 0xFD, 0x04, 0x28, 0x5D})
_B64_STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_URL = _B64_STD[:62] + "-_"
# The first base64 character encodes the top six bits of the first byte.
_B64_FIRST = frozenset(
    alphabet[byte >> 2] for byte in _INTERESTING for alphabet in (_B64_STD, _B64_URL)
)
# Base64 of base64 text opens with the encoding of that text's first character.
_B64_FIRST |= frozenset(
    alphabet[ord(char) >> 2] for char in _B64_FIRST for alphabet in (_B64_STD, _B64_URL)
)
_HEX_FIRST = frozenset(f"{byte:02x}"[0] for byte in _INTERESTING) | frozenset(
    f"{byte:02X}"[0] for byte in _INTERESTING
)
_TEXT_OPENERS = frozenset(chr(b) for b in _PROTO01_OPENERS)
# First bytes of the compressed streams codec_by_magic knows (zlib's is any 0x?8, mostly "x").
_CODEC_FIRST = frozenset("\x1fxB\xfd\x04(]") | frozenset(chr(n << 4 | 8) for n in range(8))
#: Layers of encoding peeled off one string at most (base64 of gzip of hex of a pickle is 3).
MAX_LAYERS = 3
#: One decompressed layer may grow to this much, at most at :data:`MAX_RATIO`.
LAYER_LIMIT = 16 << 20
MAX_RATIO = 250.0


@dataclass
class DecodeBudget:
    """Decoded bytes one document may still spend on its strings.

    Strings are decoded only after :func:`might_hold_pickle` says so, but a crafted file can
    make every one of a million strings a candidate: the budget bounds the work, and
    :attr:`exhausted` tells the caller that something went unanalysed (a finding, never a
    silent stop).
    """

    remaining: int
    exhausted: bool = False
    refused: int = 0
    """Decodes refused for want of budget (each is something left unanalysed)."""

    def take(self, size: int) -> bool:
        """Spend ``size`` bytes; False (and :attr:`exhausted`) when they are not there."""
        if size > self.remaining:
            self.exhausted = True
            self.refused += 1
            return False
        self.remaining -= size
        return True


@dataclass(frozen=True)
class Embedded:
    """Bytes that look like a pickle, and how they were found inside the constant.

    ``exact_offsets`` is true when the bytes appear verbatim in the outer data, so that offsets
    inside them can be reported as offsets in the file. ``encoding`` names the layers peeled,
    outermost first (``base64+gzip``). ``over_limit`` is set when a compressed layer expanded
    past its limit: ``data`` is then only the head within it.
    """

    data: bytes
    encoding: str
    exact_offsets: bool
    over_limit: str | None = None


def looks_like_pickle(data: bytes) -> bool:
    """Whether ``data`` starts the way a pickle does (cheap, no parsing)."""
    if len(data) < MIN_PICKLE_SIZE:
        return False
    if data[0] == 0x80:
        return data[1] <= 5
    return data[0] in _PROTO01_OPENERS


def might_hold_pickle(text: str) -> bool:
    """Whether a string is worth decoding at all: a cheap look at its length and first character.

    Run on every string of a document (a tokenizer has a million): a raw pickle must open like
    one and hold an importing byte; base64 and hex must open with the encoding of a pickle's or
    a compressed stream's first byte.
    """
    if len(text) < MIN_PICKLE_SIZE:
        return False
    first = text[0]
    if first in _SPACE:  # not isspace(): "\x1f", gzip's first byte, is whitespace to it
        text = text.strip(_SPACE)
        if len(text) < MIN_PICKLE_SIZE:
            return False
        first = text[0]
    if text.startswith(_WRAPPERS):
        return True
    if first == "\x80" or (first in _TEXT_OPENERS and _IMPORTING_TEXT.search(text)):
        return True
    if first in _CODEC_FIRST and codec_by_magic(text[:16].encode("latin-1", "replace")):
        return True
    # The smallest pickle that imports and calls ("cos\nfork\n)R") is 11 bytes: 16 base64
    # characters, 22 hex digits.
    if (len(text) >= 16 and first in _B64_FIRST) or (len(text) >= 22 and first in _HEX_FIRST):
        return True
    # Not one encoding as a whole, but it may hold one a program cuts out (after a label,
    # inside quotes, before a trailer), in an alphabet whose first character says little
    # (base32, base85, ascii85), or as escape text: a run of 16 printable characters, an
    # escape, or a raw pickle opener past the first character.
    return len(text) >= 16 and _INSIDE.search(text) is not None


#: How programs wrap bytes in text besides base64 and hex: a data URI, a 0x prefix, the repr of
#: a bytes object (``str(data)``, which a program turns back into bytes as a literal).
_WRAPPERS = ("data:", "0x", "0X", "b'", 'b"')
_SPACE = " \t\r\n\f\v"


def _unwrap(text: str) -> tuple[str, str | bytes] | None:
    """The text inside a wrapper, and the wrapper's name; None when there is none."""
    text = text.strip(_SPACE)
    if text.startswith("data:"):
        head, comma, rest = text.partition(",")
        return ("data-uri", rest) if comma and head.lower().endswith(";base64") else None
    if text.startswith(("0x", "0X")):
        return "0x", text[2:]
    if text.startswith(("b'", 'b"')) and text.endswith(text[1]) and len(text) > 2:
        try:
            # The escapes of a bytes literal undone (\x80, \n, \\), nothing evaluated.
            value, _ = codecs.escape_decode(text[2:-1].encode("latin-1"))
        except (ValueError, UnicodeEncodeError):
            return None
        return "bytes-literal", bytes(value)
    return None


def _interesting_head(head: bytes, compressed: bool) -> bool:
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return True
    if head[:1] and head[0] in _PROTO01_OPENERS:
        return True
    if not compressed:
        return False
    return codec_by_magic(head) is not None or _encoded_head(head)


def _encoded_head(head: bytes) -> bool:
    """Whether ``head`` is itself base64 or hex text of a pickle's or a compressed stream's head
    (base64 of base64, hex of base64: each a layer a consumer decodes in turn)."""
    text = _WHITESPACE.sub(b"", head)
    inner: list[bytes] = []
    b64 = text[: len(text) // 4 * 4]
    if len(b64) >= 12 and _BASE64.fullmatch(b64):
        altchars = b"-_" if b"-" in b64 or b"_" in b64 else None
        with contextlib.suppress(binascii.Error, ValueError):
            inner.append(base64.b64decode(b64, altchars=altchars))
    hexed = text[: len(text) & ~1]
    if len(hexed) >= 16 and _HEX.fullmatch(hexed):
        inner.append(bytes.fromhex(hexed.decode("ascii")))
    return any(
        _interesting_head(data, compressed=False) or codec_by_magic(data) is not None
        for data in inner
    )


def _decode_base64(raw: bytes, budget: DecodeBudget | None = None) -> bytes | None:
    compressed = budget is not None
    if len(raw) < 12:
        return None
    # Look at a prefix first so that megabytes of unrelated base64 are never decoded or matched.
    # 24 characters are 18 bytes: enough for the longest header looked at (.lzma's 14).
    prefix = _WHITESPACE.sub(b"", raw[:96])[:24]
    prefix = prefix[: len(prefix) // 4 * 4]
    if len(prefix) < 12 or not _BASE64.fullmatch(prefix):
        return None
    urlsafe = b"-" in raw or b"_" in raw
    altchars = b"-_" if urlsafe else None
    try:
        head = base64.b64decode(prefix, altchars=altchars)
    except (binascii.Error, ValueError):
        return None
    if not _interesting_head(head, compressed):
        return None
    if budget is not None and not budget.take(len(raw)):
        return None
    if not _BASE64.fullmatch(raw):
        return None
    compact = _WHITESPACE.sub(b"", raw)
    padded = compact + b"=" * (-len(compact) % 4)
    try:
        return base64.b64decode(padded, altchars=altchars)
    except (binascii.Error, ValueError):
        return None


def _decode_hex(raw: bytes, budget: DecodeBudget | None = None) -> bytes | None:
    compressed = budget is not None
    if len(raw) < 2 * MIN_PICKLE_SIZE:
        return None
    # bytes.fromhex, what a consumer calls, skips whitespace between the digit pairs.
    spaced = compressed and _WHITESPACE.search(raw[:96]) is not None
    prefix = _WHITESPACE.sub(b"", raw[:96]) if spaced else raw[:64]
    prefix = prefix[: min(32, len(prefix) & ~1)]
    if not _HEX.fullmatch(prefix or b"x"):
        return None
    head = bytes.fromhex(prefix.decode("ascii"))
    if not _interesting_head(head, compressed):
        return None
    if budget is not None and not budget.take(len(raw)):
        return None
    compact = _WHITESPACE.sub(b"", raw) if spaced else raw
    if not _HEX.fullmatch(compact):
        return None
    return bytes.fromhex(compact.decode("ascii"))


def embedded_pickles(
    value: bytes | bytearray | str, *, verbatim: bool, budget: DecodeBudget | None = None
) -> list[Embedded]:
    """Candidate pickles inside one constant: the bytes themselves, or their base64/hex text.

    ``verbatim`` says the constant's bytes appear as is in the outer data (BINBYTES and
    friends), which keeps offsets exact. With a ``budget`` (strings of structured documents),
    compressed streams are decompressed too, up to :data:`MAX_LAYERS` layers, every decoded
    byte charged to the budget; a candidate the budget cannot pay for is skipped and the
    budget marked exhausted.
    """
    if budget is not None:
        whole = _peel(value, budget, MAX_LAYERS, ())
        if isinstance(value, str) and not any(_strong_head(e.data[:18]) for e in whole):
            # The whole string decoded to nothing, or only to something that opens weakly
            # like a pickle (text, or base32 read as base64): what a program cuts out of it.
            seen = {e.data for e in whole}
            whole += [e for e in _inside(value, budget, MAX_LAYERS) if e.data not in seen]
        return whole
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


def _peel(
    value: bytes | bytearray | str, budget: DecodeBudget, layers: int, chain: tuple[str, ...]
) -> list[Embedded]:
    """Decode ``value`` layer by layer (text encoding, compression) until a pickle shows."""
    if isinstance(value, str) and layers > 0 and value.lstrip(_SPACE).startswith(_WRAPPERS):
        if not budget.take(len(value)):
            return []
        unwrapped = _unwrap(value)
        if unwrapped is not None:
            name, inner = unwrapped
            return _peel(inner, budget, layers - 1, (*chain, name))
    if isinstance(value, str):
        try:
            raw = value.encode("latin-1")
            plain = "text"
        except UnicodeEncodeError:
            raw = value.encode("utf-8", "surrogatepass")
            plain = "utf-8"
    else:
        raw, plain = bytes(value), "raw"
    # A compressed stream first: zstd's magic opens with "(", which also starts a pickle.
    codec = codec_by_magic(raw[:16]) if layers > 0 else None
    if codec is not None:
        found = _decompressed(raw, codec, budget, layers, chain)
        if found or budget.exhausted:
            return found
    # Without an importing byte a pickle is inert; text that opens like one may be base64.
    if looks_like_pickle(raw) and _IMPORTING.search(raw):
        return [Embedded(raw, "+".join(chain) or plain, False)]
    if layers <= 0:
        if _still_encoded(raw, budget):
            # More layers than are peeled: what is under them went unanalysed (fail closed,
            # reported by the caller as a value left unanalysed, never as clean).
            budget.exhausted = True
            budget.refused += 1
        return []
    out: list[Embedded] = []
    for name, decoder in (("base64", _decode_base64), ("hex", _decode_hex)):
        decoded = decoder(raw, budget)
        if decoded is not None:
            refused = budget.refused
            out += _peel(decoded, budget, layers - 1, (*chain, name))
            # Hex digits are base64 characters too: both readings are followed, since one
            # that merely looks like a pickle must not hide the one that is.
            if budget.refused > refused:
                return out
    return out


# --- encodings inside a string ---------------------------------------------------------------
#
# A program does not need the whole string to be the encoding: it splits off a label
# ("pickle:<b64>", "base64:<b64>"), strips quotes, keeps the first line, or decodes base32,
# base85, ascii85 or escape text. Runs of each alphabet are looked for inside the string, and
# each is decoded when a short prefix decodes to a pickle's or a compressed stream's head.
# Away from the start of a string text is anything, so the head must be a strong one: a
# protocol 2+ opener, a compressed stream's magic, or a protocol 0/1 opener with a byte that
# imports within the head (a pickle that imports nothing is not reported anyway).

#: Characters a label ends with before the encoded text (a85's alphabet holds them).
_LABEL_ENDS = ":,;='\"`"
_LABEL_END = re.compile("[:,;='\"`]")
#: Runs inside one string decoded in full (each opened like a pickle); past this many the
#: string counts as unanalysed. Looking at a run's head is cheap and not counted.
MAX_DECODES = 64


def _strong_head(head: bytes) -> bool:
    if head[:1] == b"\x80":
        return len(head) > 1 and head[1] <= 5
    if codec_by_magic(head) is not None:
        return True
    if head[:1] and head[0] in _PROTO01_OPENERS:
        return _IMPORTING.search(head) is not None
    return _encoded_head(head) and _strong_head(_encoded_inner(head))


def _encoded_inner(head: bytes) -> bytes:
    """The base64-decoded head of base64 text (for base64 of base64 inside a string)."""
    text = _WHITESPACE.sub(b"", head)
    text = text[: len(text) // 4 * 4]
    with contextlib.suppress(binascii.Error, ValueError):
        return base64.b64decode(text, altchars=b"-_" if b"-" in text or b"_" in text else None)
    return b""


def _b64_text(run: str) -> bytes | None:
    compact = re.sub(r"\s+", "", run).rstrip("=")
    altchars = b"-_" if "-" in compact or "_" in compact else None
    if altchars and ("+" in compact or "/" in compact):
        return None
    return _b64decode(compact.encode("ascii"), altchars)


def _b64decode(compact: bytes, altchars: bytes | None) -> bytes | None:
    # What a lenient consumer gets: a trailing partial group is dropped, not an error.
    if len(compact) % 4 == 1:
        compact = compact[:-1]
    try:
        return base64.b64decode(compact + b"=" * (-len(compact) % 4), altchars=altchars)
    except (binascii.Error, ValueError):
        return None


def _b32_text(run: str) -> bytes | None:
    compact = re.sub(r"\s+", "", run).rstrip("=")
    match = re.match(r"[A-Z2-7]+|[a-z2-7]+", compact)
    if match is None:
        return None
    text = match.group()
    text = text[: len(text) - 1] if len(text) % 8 in (1, 3, 6) else text
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8), casefold=True)
    except (binascii.Error, ValueError):
        return None


def _hex_text(run: str) -> bytes | None:
    match = re.match(r"[0-9A-Fa-f\s]+", run)
    if match is None:
        return None
    compact = re.sub(r"\s+", "", match.group())
    return bytes.fromhex(compact[: len(compact) & ~1])


def _b85_text(run: str) -> bytes | None:
    try:
        return base64.b85decode(run)
    except ValueError:
        return None


def _a85_text(run: str) -> bytes | None:
    try:
        return base64.a85decode(run)
    except ValueError:
        return None


#: How long a prefix of a run each decoder looks at before decoding all of it.
_HEAD_CHARS = {"base64": 24, "hex": 36, "base32": 32, "base85": 20, "ascii85": 20}
_DECODERS = {
    "base64": _b64_text,
    "hex": _hex_text,
    "base32": _b32_text,
    "base85": _b85_text,
    "ascii85": _a85_text,
}


# First bytes looked for in base32, base85 and ascii85 text, whose alphabets cover most text:
# a protocol 2+ pickle, a compressed stream, and the two openers of the protocol 0/1 pickles
# pickle.dumps writes (GLOBAL "c", MARK "("). A hand-made protocol 0 pickle opening otherwise
# (with NONE, POP) in one of these three encodings is not looked for: the cost of looking
# is a decode of most long tokens of a vocabulary.
# Compressed streams by their usual first byte (zlib's default window: "x").
_ALT_FIRST_BYTES = frozenset(b"\x80c(" + b"\x1fxB\xfd\x04]")


def _first_chars(encode: Callable[[bytes], bytes], size: int) -> frozenset[str]:
    """The first characters of ``encode``'s text for data opening with an interesting byte
    (the first character encodes the top bits of the first byte: a cheap look before a decode).
    """
    chars: set[str] = set()
    for byte in _ALT_FIRST_BYTES:
        low = encode(bytes([byte]) + bytes(size - 1)).decode("ascii")[0]
        high = encode(bytes([byte]) + b"\xff" * (size - 1)).decode("ascii")[0]
        chars.update(chr(n) for n in range(ord(low), ord(high) + 1))
    return frozenset(chars)


_B32_FIRST = _first_chars(base64.b32encode, 5)
_B32_FIRST |= frozenset(c.lower() for c in _B32_FIRST)
# b85's alphabet is not in ASCII order, but a first byte spans at most two of its first
# characters: the ones of its lowest and highest groups.
_B85_FIRST = frozenset(
    base64.b85encode(bytes([b]) + fill * 3).decode("ascii")[0]
    for b in _ALT_FIRST_BYTES
    for fill in (b"\x00", b"\xff")
)
_A85_FIRST = _first_chars(base64.a85encode, 4)
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _one_of(chars: frozenset[str]) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"


# A run is looked at only where it opens like an encoded pickle or compressed stream: its first
# character is one of the encoding's first characters for those (the lookbehinds make the run
# maximal, so that its first character is where a program would start decoding).
_B64_CHARS = r"A-Za-z0-9+/_\-"
#: Base64 (and hex, base32: subsets of its alphabet), lines joined across whitespace.
_B64_RUN = re.compile(
    rf"(?<![{_B64_CHARS}]){_one_of(_B64_FIRST | _HEX_DIGITS | _B32_FIRST)}[{_B64_CHARS}]{{15,}}"
    rf"(?:[ \t\r\n]+[{_B64_CHARS}]{{4,}})*=*"
)
_B85_CHARS = r"0-9A-Za-z!#$%&()*+\-;<=>?@^_`{|}~"
_B85_RUN = re.compile(rf"(?<![{_B85_CHARS}]){_one_of(_B85_FIRST)}[{_B85_CHARS}]{{15,}}")
#: Ascii85: between Adobe's <~ ~>, or a bare run of its alphabet ("!" to "u", and "z").
_A85_RUN = re.compile(r"<~([!-uz\s]+?)~>|(?<![!-uz])[!-uz]{16,}")
# A bare ascii85 run worth a look: it opens like one, or a label in its first 32 characters
# is followed by a character that does (ascii85's alphabet holds ":" and quotes).
_A85_OPEN = _one_of(_A85_FIRST)
_A85_HEAD = rf"<~|(?<![!-uz]){_A85_OPEN}[!-uz]{{15}}|(?<![!-uz])[!-uz]{{0,31}}[:,;='\"`]{_A85_OPEN}[!-uz]{{15}}"
#: Escape text a program decodes with codecs.escape_decode: \xNN, octal, or protocol 0's
#: GLOBAL / INST lines ("cos\\nsystem\\n"). A line is tried once, from the start of its run of
#: name characters (the lookahead finds the "c"/"i" in it): tried from every "c" and "i", a
#: long run without "\\n" after it made the search quadratic (100 kB: 27 s; found by fuzzing).
_ESCAPE = re.compile(
    r"\\(?:x[0-9A-Fa-f]{2}|u00[0-9A-Fa-f]{2}|[0-7]{1,3})"
    r"|(?<![\w.])(?=[\w.]*[ci][\w.])[\w.]++\\n[\w.]++\\n"
)
#: Hex after a label: "0x" and digits, or byte pairs apart ("80 04 95", "80:04:95").
_SPACED_HEX = re.compile(
    r"(?<![0-9A-Za-z])(?:0[xX][0-9A-Fa-f]{16,}|(?:[0-9A-Fa-f]{2}[ :\-]){8,}[0-9A-Fa-f]{2})"
)
_HEX_HEAD = re.compile(r"[0-9A-Fa-f]{16}")
_B32_HEAD = re.compile(r"[A-Z2-7]{16}|[a-z2-7]{16}")
_B32_UPPER = _one_of(frozenset(c for c in _B32_FIRST if c.isupper()))
_B32_LOWER = _one_of(frozenset(c for c in _B32_FIRST if c.islower()))
#: The gate for :func:`might_hold_pickle`, for strings whose first character says nothing:
#: base64 or hex after a label (a run at the start is the first character's business),
#: base32, base85 or ascii85 anywhere, escape text, or a raw protocol 2+ opener.
_INSIDE = re.compile(
    "|".join(
        (
            rf"(?<=[^{_B64_CHARS}]){_one_of(_B64_FIRST)}[{_B64_CHARS}]{{15}}",
            rf"(?<=[^{_B64_CHARS}]){_one_of(frozenset(_HEX_FIRST))}[0-9A-Fa-f]{{21}}",
            rf"(?<![{_B64_CHARS}])(?:{_B32_UPPER}[A-Z2-7]{{15}}|{_B32_LOWER}[a-z2-7]{{15}})",
            _B85_RUN.pattern,
            _A85_HEAD,
            _ESCAPE.pattern,
            _SPACED_HEX.pattern,
            "\x80[\x02-\x05]",
        )
    )
)


def _runs(text: str) -> Iterator[tuple[str, int, str]]:
    """``(encoding, offset, run)`` for each run inside ``text`` that opens like an encoded
    pickle or compressed stream (by its first character; the caller decodes its head)."""
    for match in _B64_RUN.finditer(text):
        run, start = match.group(), match.start()
        first = run[0]
        # The whole string as one run was decoded as base64 and hex already.
        whole = start == 0 and len(run) == len(text) and len(run.rstrip("=")) % 4 != 1
        if not whole or any(c in _SPACE for c in run):
            if first in _B64_FIRST:
                yield "base64", start, run
            if first in _HEX_FIRST and _HEX_HEAD.match(run):
                yield "hex", start, run
        if first in _B32_FIRST and _B32_HEAD.match(run):
            yield "base32", start, run
    for match in _SPACED_HEX.finditer(text):
        digits = re.sub(r"[ :\-]", "", match.group())
        digits = digits[2:] if digits[:2] in ("0x", "0X") else digits
        if digits[0] in _HEX_FIRST:
            yield "hex", match.start(), digits
    for match in _B85_RUN.finditer(text):
        yield "base85", match.start(), match.group()
    for match in _A85_RUN.finditer(text):
        if match.group(1) is not None:
            yield "ascii85", match.start(1), match.group(1).strip(_SPACE)
            continue
        run = match.group()
        if run[0] in _A85_FIRST:
            yield "ascii85", match.start(), run
        # A label inside the run (ascii85's alphabet holds ":" and quotes): what follows it.
        for label in _LABEL_END.finditer(run, 0, 32):
            rest = run[label.end() :].rstrip(_LABEL_ENDS)
            if len(rest) >= 16 and rest[0] in _A85_FIRST:
                yield "ascii85", match.start() + label.end(), rest


def _inside(text: str, budget: DecodeBudget, layers: int) -> list[Embedded]:
    """Pickles in the encoded runs inside ``text``, and in its escape text (see above)."""
    out: list[Embedded] = []
    decodes = 0
    for name, offset, run in _runs(text):
        decoder = _DECODERS[name]
        head = decoder(run[: _HEAD_CHARS[name]])
        if not head or not _strong_head(head):
            continue  # the common case, a look at a few characters: not counted
        decodes += 1
        if decodes > MAX_DECODES:
            budget.exhausted = True  # too many runs that open like a pickle: fail closed
            budget.refused += 1
            return out
        if not budget.take(len(run)):
            return out
        decoded = decoder(run)
        if not decoded:
            continue
        refused = budget.refused
        # Every run is followed: a decoy run whose decoding merely looks like a pickle (a
        # base85 reading of ascii85 text, say) must not hide the run that holds one.
        out += _peel(decoded, budget, layers - 1, (f"{name} at character {offset}",))
        if budget.refused > refused:
            return out
    if _ESCAPE.search(text):
        out += _escaped(text, budget, layers)
    elif "\x80" in text[1:]:
        out += _after_opener(text.encode("latin-1", "replace"), budget, layers, ("text",))
    return out


def _escaped(text: str, budget: DecodeBudget, layers: int) -> list[Embedded]:
    """Escape text (``\\x80\\x04...``, not in ``b'...'``) as codecs.escape_decode reads it."""
    if not budget.take(len(text)):
        return []
    out: list[Embedded] = []
    for data in _unescaped(text):
        refused = budget.refused
        out += _peel(data, budget, layers - 1, ("escape-text",)) or _after_opener(
            data, budget, layers - 1, ("escape-text",)
        )
        if budget.refused > refused:
            return out
    return out


def _unescaped(text: str) -> Iterator[bytes]:
    """The bytes of escape text, as ``codecs.escape_decode`` reads it and, where it holds
    ``\\u`` escapes, as ``.encode().decode("unicode_escape").encode("latin-1")`` does."""
    with warnings.catch_warnings():
        # An invalid escape ("\\K") is kept as is, as the consumer's decoder keeps it.
        warnings.simplefilter("ignore", DeprecationWarning)
        with contextlib.suppress(ValueError):
            yield bytes(codecs.escape_decode(text.encode("utf-8"))[0])
        if "\\u" in text or "\\U" in text:
            with contextlib.suppress(ValueError):  # UnicodeError is a ValueError
                decoded = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
                yield decoded.encode("latin-1")


def _after_opener(
    data: bytes, budget: DecodeBudget, layers: int, chain: tuple[str, ...]
) -> list[Embedded]:
    """A protocol 2+ pickle that starts after a label: from each PROTO opcode on."""
    start = data.find(b"\x80", 1)
    for _ in range(8):
        if start < 0:
            break
        if data[start + 1 : start + 2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            refused = budget.refused
            found = _peel(data[start:], budget, layers, (*chain, f"from byte {start}"))
            if found or budget.refused > refused:
                return found
        start = data.find(b"\x80", start + 1)
    return []


def _still_encoded(raw: bytes, budget: DecodeBudget) -> bool:
    """Whether bytes left after the last peeled layer are another compressed or encoded layer."""
    if codec_by_magic(raw[:16]) is not None:
        return True
    return any(decoder(raw[:96], budget) is not None for decoder in (_decode_base64, _decode_hex))


def _decompressed(
    raw: bytes, codec: Codec, budget: DecodeBudget, layers: int, chain: tuple[str, ...]
) -> list[Embedded]:
    limit = min(LAYER_LIMIT, budget.remaining)
    result = decompress(io.BytesIO(raw), codec, limit=limit, max_ratio=MAX_RATIO)
    budget.take(len(result.data))
    step = (*chain, str(codec))
    if result.over_limit is not None and limit < LAYER_LIMIT:
        budget.exhausted = True
        budget.refused += 1
        return []
    if result.over_limit is not None:
        # A bomb, or a huge payload: what fits is looked at, and the caller reports the rest.
        head = result.data
        return [Embedded(head, "+".join(step), False, over_limit=result.over_limit)]
    if not result.data:
        return []
    return _peel(result.data, budget, layers - 1, step)
