"""Matrix and BOM documents for the HTML report's tests and benchmark, built in code.

:func:`large_documents` builds the matrix with the plugin's own ``build_matrix``/``render_json``
(so its shape is the gate's), from ``files`` artifact rows of three checks each; the BOM holds
the matching file components. :func:`hostile_documents` puts attacker-controlled text in every
field a report shows.
"""

from __future__ import annotations

import json
from typing import Any

from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.reports.matrix import build_matrix, render_json
from pytest_mlsupply.results import CheckResult, Finding, Location, RowKind, Severity
from tests.conftest import Project, write_model, write_pickle_payload

CHECKS = ("format", "scan", "sha256")
#: Every this-many'th file carries a blocking pickle finding.
FAILING_EVERY = 20

HOSTILE = "</script><img src=x onerror=\"window.__pwned=1;alert('x')\">'\"&amp;\x07\u202etxt.exe"
HOSTILE_SCRIPT_END = "</SCRIPT><svg onload=alert(2)>\u2028\u2029<!--"


def _bom(models: dict[str, list[tuple[str, str]]], **extra: Any) -> dict[str, Any]:
    components: list[dict[str, Any]] = []
    for name, files in models.items():
        components.append(
            {
                "type": "machine-learning-model",
                "bom-ref": f"model:{name}",
                "name": name,
                "components": [
                    {
                        "type": "file",
                        "bom-ref": f"file:{rel}",
                        "name": rel,
                        "hashes": [{"alg": "SHA-256", "content": digest}],
                    }
                    for rel, digest in files
                ],
                **extra.pop(name, {}),
            }
        )
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": "urn:uuid:00000000-0000-4000-8000-000000000001",
        "version": 1,
        "metadata": {
            "timestamp": "2026-12-04T00:00:00Z",
            "tools": {"components": [{"type": "application", "name": "pytest-mlsupply"}]},
            "component": {"type": "application", "name": "big-service", "version": "1.0"},
        },
        "components": components,
        **extra,
    }


def large_documents(files: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A gate's matrix of ``files`` model files (``3 * files`` items): every file unpinned (an
    info finding, as a real run reports it), every :data:`FAILING_EVERY` th a malicious pickle."""
    items: list[PlannedItem] = []
    results: list[CheckResult] = []
    models: dict[str, list[tuple[str, str]]] = {}
    for index in range(files):
        model = f"model-{index // 500:02d}"
        subject = f"{model}/shard-{index:05d}.bin"
        digest = f"{index:064x}"
        models.setdefault(model, []).append((subject, digest))
        for check in CHECKS:
            items.append(PlannedItem(RowKind.ARTIFACT, subject, (check,)))
        results.append(CheckResult(RowKind.ARTIFACT, subject, "format"))
        results.append(
            CheckResult(
                RowKind.ARTIFACT,
                subject,
                "sha256",
                findings=[
                    Finding(
                        "MLS-PIN-003",
                        Severity.INFO,
                        "integrity",
                        "file has no sha256 pin",
                        Location(file=subject),
                        evidence=f"sha256:{digest}",
                        remediation=f'pin it under `files:` as "sha256:{digest}"',
                    )
                ],
            )
        )
        scan = CheckResult(RowKind.ARTIFACT, subject, "scan")
        if index % FAILING_EVERY == 0:
            scan.findings.append(
                Finding(
                    "MLS-PKL-001",
                    Severity.CRITICAL,
                    "code-execution",
                    "pickle imports a dangerous global: os.system",
                    Location(file=subject, offset=2),
                    evidence="GLOBAL 'os system' at byte 2",
                    why="loading this file runs a shell command",
                    remediation="do not load it; convert the weights to safetensors",
                    cwe="CWE-502",
                )
            )
        results.append(scan)
    matrix = build_matrix(items, results, Severity.HIGH)
    return json.loads(render_json(matrix, results)), _bom(models)


def hostile_documents() -> tuple[dict[str, Any], dict[str, Any]]:
    """Documents whose every shown string a publisher could have chosen."""
    subject = f"evil/{HOSTILE}"
    check = "scan"
    items = [
        PlannedItem(RowKind.ARTIFACT, subject, (check,)),
        PlannedItem(RowKind.PROVENANCE, HOSTILE_SCRIPT_END, ("lineage",)),
    ]
    finding = Finding(
        "MLS-PKL-001",
        Severity.CRITICAL,
        "code-execution",
        f"title {HOSTILE}",
        Location(file=subject, member=HOSTILE_SCRIPT_END, offset=7),
        evidence=f"evidence {HOSTILE}",
        why=f"why {HOSTILE_SCRIPT_END}",
        remediation=f"fix {HOSTILE}",
        cwe="CWE-502",
    )
    results = [
        CheckResult(RowKind.ARTIFACT, subject, check, findings=[finding]),
        CheckResult(RowKind.PROVENANCE, HOSTILE_SCRIPT_END, "lineage", error=HOSTILE),
    ]
    matrix = json.loads(render_json(build_matrix(items, results, Severity.HIGH), results))
    pedigree = {"ancestors": [{"type": "machine-learning-model", "name": HOSTILE}]}
    bom = _bom(
        {HOSTILE_SCRIPT_END: [(subject, HOSTILE)]},
        **{HOSTILE_SCRIPT_END: {"pedigree": pedigree}},
    )
    bom["metadata"]["component"]["name"] = HOSTILE
    bom["vulnerabilities"] = [
        {
            "id": HOSTILE,
            "description": HOSTILE_SCRIPT_END,
            "recommendation": f"upgrade {HOSTILE}",
            "affects": [{"ref": f"file:{subject}", "versions": [{"version": HOSTILE}]}],
        }
    ]
    return matrix, bom


LINEAGE = """\
version: 1
project: {name: chat-service, version: 0.1.0}
policy: {pickle_formats: scan}
models:
  - name: base
    path: models/base
    license: apache-2.0
  - name: finetune
    path: models/finetune
    license: apache-2.0
    lineage: {base_model: base}
  - name: adapter
    path: models/adapter
    license: mit
    lineage: {base_model: finetune}
requirements:
  - file: requirements.txt
vulnerabilities: {service: offline, path: osv}
output: {html: build/report.html}
"""


def gate_project(project: Project) -> Project:
    """Three models (base -> fine-tune -> adapter), a malicious pickle in the adapter, a
    dependency with a known vulnerability (torch 2.5.1 in the offline OSV snapshot) and a code
    file that calls torch.load without weights_only=True."""
    for name in ("base", "finetune", "adapter"):
        write_model(project.root / "models" / name)
    write_pickle_payload(project.root / "models" / "adapter" / "evil.pkl")
    with (project.root / "requirements.txt").open("a") as requirements:
        requirements.write("torch==2.5.1\n")
    # The project's own code: one file that loads a checkpoint unsafely (a failing code row).
    (project.root / "src").mkdir()
    (project.root / "src" / "load.py").write_text("import torch\n\nstate = torch.load('x.pt')\n")
    project.manifest(LINEAGE + "code: {paths: [src/]}\n")
    return project
