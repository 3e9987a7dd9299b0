"""Token anomalies, one set of checks for every tokenizer format (HF JSON files, GGUF arrays).

What a reviewer cannot see, or what lets user text forge a turn: invisible, bidi and control
characters in a token (MLS-TOK-001), over-long tokens that are trigger phrases or payloads
(MLS-TOK-002), and chat-role markers that are ordinary rather than special tokens (MLS-TOK-003).
The formats decide which tokens are "added" or "special" (``added_tokens`` entries in
``tokenizer.json``, token types in GGUF); the checks themselves live only here.
"""

from __future__ import annotations

import re
import unicodedata

from pytest_mlsupply.results import Finding, Location, Severity

__all__ = ["MAX_TOKEN_CHARS", "hidden_characters", "is_role_marker", "token_findings"]

#: Tokens longer than this are not vocabulary.
MAX_TOKEN_CHARS = 256

# Invisible or direction-changing characters: what a reviewer cannot see in a token.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad")
# Markers of chat roles and turns in the common chat formats.
_ROLE_MARKER = re.compile(
    r"<\|(?:im_start|im_end|start_header_id|end_header_id|eot_id|system|user|assistant|"
    r"endoftext|end|tool_call|begin_of_text)\|>|\[/?INST\]|<<SYS>>|<</SYS>>|"
    r"<(?:start|end)_of_turn>",
)


def is_role_marker(content: str) -> bool:
    return _ROLE_MARKER.fullmatch(content.strip()) is not None


def token_findings(
    location: Location,
    content: str,
    special: bool,
    *,
    noun: str = "added",
    hidden: bool = True,
    role: bool = True,
) -> list[Finding]:
    """TOK-001/002/003 for one token. ``noun`` names a non-special token in titles ("added",
    "vocabulary"); ``hidden`` and ``role`` turn those two checks off where the format gives
    them no meaning (a base vocabulary's raw characters, a token whose type is unknown)."""
    findings: list[Finding] = []
    found = hidden_characters(content) if hidden else []
    if found:
        findings.append(
            Finding(
                rule="MLS-TOK-001",
                severity=Severity.HIGH if special else Severity.MEDIUM,
                category="tokenizer-tampering",
                title=f"{'special' if special else noun} token contains invisible or "
                "direction-changing characters",
                location=location,
                evidence=f"{content[:80]!r} contains {', '.join(found)}",
                why="a token that renders differently from what it is lets text that looks "
                "harmless to a reviewer carry control tokens (prompt injection, hidden "
                "triggers)",
                remediation="remove the token or restore the tokenizer from its source",
                cwe="CWE-451",
            )
        )
    if len(content) > MAX_TOKEN_CHARS:
        findings.append(
            Finding(
                rule="MLS-TOK-002",
                severity=Severity.MEDIUM,
                category="tokenizer-tampering",
                title=f"{noun} token is unusually long",
                location=location,
                evidence=f"{len(content)} characters: {content[:80]!r}...",
                why="tokens are short; a long one is a hidden trigger phrase or a payload",
                remediation="remove the token or restore the tokenizer from its source",
            )
        )
    if role and not special and is_role_marker(content):
        findings.append(
            Finding(
                rule="MLS-TOK-003",
                severity=Severity.MEDIUM,
                category="tokenizer-tampering",
                title="chat-role marker added as a non-special token"
                if noun == "added"
                else f"chat-role marker is a non-special {noun} token",
                location=location,
                evidence=f"{content!r} is not a special token",
                why="role markers must be special tokens; as ordinary tokens they are "
                "produced from user text, so a user can forge system or assistant turns",
                remediation="mark the token special, as the original tokenizer does",
                cwe="CWE-74",
            )
        )
    return findings


def hidden_characters(content: str) -> list[str]:
    """Labels of the invisible, bidi and control characters in ``content`` (each once)."""
    found: list[str] = []
    for char in content:
        if char in _BIDI or char in _INVISIBLE:
            label = f"U+{ord(char):04X} {unicodedata.name(char, 'control')}"
        elif unicodedata.category(char) == "Cc" and char not in "\n\t\r":
            label = f"U+{ord(char):04X} control character"
        else:
            continue
        if label not in found:
            found.append(label)
    return found
