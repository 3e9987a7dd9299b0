"""Real advisories as OSV records (trimmed to the fields the auditor reads), for the tests."""

from __future__ import annotations

import copy
from typing import Any

#: torch.load with weights_only=True is still a remote-code-execution path before 2.6.0.
TORCH_WEIGHTS_ONLY: dict[str, Any] = {
    "schema_version": "1.6.0",
    "id": "GHSA-53q9-r3pm-6pq6",
    "aliases": ["CVE-2025-32434"],
    "modified": "2025-04-21T18:45:00Z",
    "published": "2025-04-18T15:35:09Z",
    "summary": "PyTorch: `torch.load` with `weights_only=True` leads to remote code execution",
    "details": "A Remote Command Execution (RCE) vulnerability exists in PyTorch when loading "
    "a model using torch.load with weights_only=True.",
    "severity": [
        {
            "type": "CVSS_V4",
            "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        }
    ],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "torch", "purl": "pkg:pypi/torch"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.6.0"}]}],
        }
    ],
    "references": [
        {
            "type": "ADVISORY",
            "url": "https://github.com/pytorch/pytorch/security/advisories/GHSA-53q9-r3pm-6pq6",
        }
    ],
    "database_specific": {"severity": "CRITICAL", "cwe_ids": ["CWE-502"]},
}

#: requests sent the Authorization header to http:// after an https->http redirect.
REQUESTS_PYSEC: dict[str, Any] = {
    "id": "PYSEC-2018-28",
    "aliases": ["CVE-2018-18074", "GHSA-x84v-xcm2-53pg"],
    "modified": "2021-06-10T06:51:43Z",
    "published": "2018-10-09T17:29:00Z",
    "details": "The Requests package before 2.20.0 for Python sends an HTTP Authorization "
    "header to an http URI upon receiving a same-hostname https-to-http redirect.",
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "requests"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}],
        }
    ],
}

#: The same vulnerability as GitHub's advisory database records it, rated by a CVSS 3 vector.
REQUESTS_GHSA: dict[str, Any] = {
    "id": "GHSA-x84v-xcm2-53pg",
    "aliases": ["CVE-2018-18074"],
    "modified": "2023-11-08T03:59:00Z",
    "published": "2018-10-29T19:06:37Z",
    "summary": "Insufficiently Protected Credentials in Requests",
    "details": "The Requests package before 2.20.0 for Python sends an HTTP Authorization "
    "header to an http URI upon receiving a same-hostname https-to-http redirect.",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "requests"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}],
        }
    ],
    "database_specific": {"severity": "HIGH"},
}


def withdrawn(record: dict[str, Any]) -> dict[str, Any]:
    """The record as a database publishes it once withdrawn."""
    out = copy.deepcopy(record)
    out["withdrawn"] = "2025-05-01T00:00:00Z"
    return out
