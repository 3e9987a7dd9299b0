"""Strict JSON: the one reader for JSON documents whose values a claim trusts.

Configuration, attestations and release records are read here, never with a bare
``json.loads``, because a lenient reader and the consumer that acts on the file can disagree:

- a duplicated key (Python keeps the last copy, another reader the first);
- ``NaN`` / ``Infinity`` (not JSON; other readers refuse them);
- a lone surrogate escape (``"\\ud800"``: valid JSON, but no Unicode text, so no report can
  write it);
- an integer past Python's digit limit, or nesting past its recursion limit (a crash, not a
  verdict).

Each is a :class:`StrictJsonError` whose message names the cause (and the line where
``json`` knows it); callers prefix the file. The scanner's own JSON formats (``hf_json``,
``safetensors``) keep their readers: they inspect duplicates rather than refuse them.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["StrictJsonError", "loads"]


class StrictJsonError(ValueError):
    """A document that is not strict JSON; the message says why."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise StrictJsonError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise StrictJsonError(f"{name} is not JSON")


def loads(data: bytes | str) -> Any:
    """Parse ``data`` (UTF-8 bytes or text) as strict JSON; :class:`StrictJsonError` if not."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StrictJsonError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    else:
        text = data
    try:
        document = json.loads(text, object_pairs_hook=_object, parse_constant=_constant)
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except StrictJsonError:
        raise
    except json.JSONDecodeError as exc:
        raise StrictJsonError(
            f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except UnicodeEncodeError:
        raise StrictJsonError(
            "a lone surrogate escape (\\ud800-\\udfff): not Unicode text"
        ) from None
    except RecursionError:
        raise StrictJsonError("nested too deeply") from None
    except ValueError as exc:  # an integer past sys.get_int_max_str_digits()
        raise StrictJsonError(f"not JSON we read: {exc}") from None
    return document
