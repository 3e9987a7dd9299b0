"""Measure the dependency audit: 500 pinned requirements against an OSV snapshot of PyPI's size.

    python benchmarks/dependency_audit.py            # full size, 5 repetitions; prints Markdown
    python benchmarks/dependency_audit.py --quick    # a tenth of the snapshot, 1 repetition

``benchmarks/run.py`` runs it too and adds its section to ``results.md``. Nothing is downloaded:
the snapshot is generated into a temporary folder with the shapes OSV's PyPI export has (about
17,000 records over about 5,000 packages, a few packages with hundreds of advisories and most
with one or two; GHSA records with CVSS vectors beside PYSEC records that alias them and list
every affected version; several ranges, ``last_affected`` bounds, withdrawn records; details of
a few hundred words). The project pins 500 of those packages (the most advised-about ones
among them) and runs the ``vulnerabilities`` check of each dependency item through the real
pipeline (manifest → inventory → plan → runner):

- **cold**: a new session and an empty result cache, so the snapshot is indexed (every record
  read and parsed once) and every pin and every upgrade candidate is matched;
- **warm**: a new session over the cache the cold run filled: only the snapshot's digest (a stat
  of its files) and one cache file per answer.

Figures are in-process ``time.perf_counter`` medians over the repetitions, imports excluded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RECORDS = 17_000
PACKAGES = 5_000
PINS = 500
#: The issue's targets: cold including the indexing, and warm.
COLD_TARGET = 5.0
WARM_TARGET = 0.3

_SENTENCE = (
    "allows remote attackers to execute arbitrary code via a crafted request because the "
    "parser does not validate the length of the input before copying it into a fixed buffer "
    "which leads to denial of service or information disclosure when the affected function is "
    "reachable from untrusted data such as uploaded files headers or serialized objects"
)
_WORDS = _SENTENCE.split()
_VECTORS = (
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N",
    "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H",
    "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
)


@dataclass
class Snapshot:
    path: Path
    records: int
    packages: int
    size: int
    pins: list[tuple[str, str]]


def _releases(rng: random.Random) -> list[str]:
    out = []
    for major in range(rng.randint(0, 4), rng.randint(5, 7)):
        for minor in range(rng.randint(3, 12)):
            out += [f"{major}.{minor}.{patch}" for patch in range(rng.randint(1, 4))]
    return out


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def generate(directory: Path, *, records: int, packages: int, pins: int, seed: int = 9) -> Snapshot:
    """Write a snapshot of OSV records into ``directory`` and choose the pins to audit."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    names = [
        f"pkg-{i:05d}-{rng.choice(('lib', 'py', 'client', 'utils', 'ml'))}" for i in range(packages)
    ]
    history = {name: _releases(rng) for name in names}
    # Zipf-like: a few packages carry hundreds of advisories (as tensorflow and django do).
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(packages)]
    per_package = dict.fromkeys(names, 1)  # every package has at least one advisory
    for name in rng.choices(names, weights=weights, k=max(0, records - packages)):
        per_package[name] += 1
    written = size = 0
    serial = 0
    for name, count in per_package.items():
        releases = history[name]
        left = count
        while left > 0:
            serial += 1
            start = rng.randrange(len(releases))
            end = min(len(releases) - 1, start + rng.randint(1, 12))
            introduced = "0" if rng.random() < 0.4 else releases[start]
            bound = (
                {"last_affected": releases[end - 1]}
                if rng.random() < 0.1
                else {"fixed": releases[end]}
            )
            events: list[dict[str, str]] = [
                bound,
                {"introduced": introduced},
            ]  # unsorted, as OSV allows
            ranges = [{"type": "ECOSYSTEM", "events": events}]
            if rng.random() < 0.08 and end + 3 < len(releases):
                ranges.append(
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": releases[end + 1]}, {"fixed": releases[end + 3]}],
                    }
                )
            affected_versions = (
                releases[: end + 1] if introduced == "0" else releases[start : end + 1]
            )
            cve = f"CVE-20{rng.randint(14, 26)}-{serial:05d}"
            ghsa_id = f"GHSA-{serial:04x}-{rng.randrange(16**4):04x}-{rng.randrange(16**4):04x}"
            ghsa = {
                "schema_version": "1.6.0",
                "id": ghsa_id,
                "aliases": [cve],
                "modified": "2025-06-01T00:00:00Z",
                "published": "2024-03-01T00:00:00Z",
                "summary": _text(rng, 8),
                "details": _text(rng, rng.randint(60, 250)),
                "severity": [
                    {
                        "type": "CVSS_V3" if "3.1" in (v := rng.choice(_VECTORS)) else "CVSS_V4",
                        "score": v,
                    }
                ],
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": name, "purl": f"pkg:pypi/{name}"},
                        "ranges": ranges,
                        "database_specific": {"source": "https://github.com/advisories"},
                    }
                ],
                "references": [
                    {"type": "ADVISORY", "url": f"https://nvd.nist.gov/vuln/detail/{cve}"},
                    {"type": "WEB", "url": f"https://github.com/example/{name}/issues/{serial}"},
                ],
                "database_specific": {
                    "severity": rng.choice(("LOW", "MODERATE", "HIGH", "CRITICAL")),
                    "cwe_ids": ["CWE-20"],
                    "github_reviewed": True,
                },
            }
            if rng.random() < 0.01:
                ghsa["withdrawn"] = "2025-01-01T00:00:00Z"
            batch = [ghsa]
            # Most GHSA advisories of PyPI packages have a PYSEC twin listing every version.
            if left > 1 and rng.random() < 0.6:
                batch.append(
                    {
                        "id": f"PYSEC-20{rng.randint(14, 26)}-{serial}",
                        "aliases": [cve, ghsa_id],
                        "modified": "2025-06-01T00:00:00Z",
                        "published": "2024-03-01T00:00:00Z",
                        "details": ghsa["details"],
                        "affected": [
                            {
                                "package": {"ecosystem": "PyPI", "name": name},
                                "ranges": [
                                    {
                                        "type": "GIT",
                                        "repo": f"https://github.com/example/{name}",
                                        "events": [
                                            {"introduced": "0"},
                                            {"fixed": f"{serial:040x}"},
                                        ],
                                    },
                                    {"type": "ECOSYSTEM", "events": events},
                                ],
                                "versions": affected_versions,
                            }
                        ],
                        "references": [
                            {
                                "type": "FIX",
                                "url": f"https://github.com/example/{name}/commit/{serial:040x}",
                            }
                        ],
                    }
                )
            for rec in batch:
                data = json.dumps(rec, indent=2)
                folder = directory / rec["id"].split("-", 1)[0]
                folder.mkdir(exist_ok=True)
                (folder / f"{rec['id']}.json").write_text(data)
                written += 1
                size += len(data)
            left -= len(batch)
    # The pins: the most advised-about packages first (a real ML project pins those), then a
    # random draw, each at a random release (some affected, some not).
    by_count = sorted(names, key=lambda n: -per_package[n])
    chosen = by_count[: pins // 5] + rng.sample(by_count[pins // 5 :], pins - pins // 5)
    pinned = [(name, rng.choice(history[name])) for name in chosen]
    return Snapshot(directory, written, packages, size, pinned)


@dataclass
class AuditResult:
    snapshot: Snapshot
    cold: list[float]
    warm: list[float]
    cold_cpu: list[float]
    warm_cpu: list[float]
    findings: int
    affected: int
    errors: int


def measure(snapshot: Snapshot, project: Path, repeat: int) -> AuditResult:
    from pytest_mlsupply.checks.base import CheckContext
    from pytest_mlsupply.checks.content import ContentCache
    from pytest_mlsupply.checks.runner import run_item
    from pytest_mlsupply.manifest.loader import load_manifest
    from pytest_mlsupply.plan import PlannedItem, build_plan
    from pytest_mlsupply.results import RowKind
    from pytest_mlsupply.sources.resolve import build_inventory

    project.mkdir(parents=True, exist_ok=True)
    (project / "requirements.txt").write_text("".join(f"{n}=={v}\n" for n, v in snapshot.pins))
    (project / "mlsupply.yaml").write_text(
        "version: 1\nrequirements: [{file: requirements.txt}]\n"
        f"vulnerabilities: {{service: offline, path: {snapshot.path}}}\n"
    )
    cache = project / ".mlsupply-cache"

    def session() -> tuple[float, float, int, int, int]:
        manifest = load_manifest(project / "mlsupply.yaml")
        inventory = build_inventory(manifest)
        items = [
            PlannedItem(RowKind.DEPENDENCY, item.subject, ("vulnerabilities",))
            for item in build_plan(inventory)
            if item.kind is RowKind.DEPENDENCY
        ]
        ctx = CheckContext(manifest.policy, inventory, ContentCache())
        start, cpu = time.perf_counter(), time.process_time()
        results = [r for item in items for r in run_item(item, ctx)]
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        findings = sum(len(r.findings) for r in results)
        affected = sum(1 for r in results if r.findings)
        errors = sum(1 for r in results if r.error)
        return elapsed, cpu, findings, affected, errors

    cold: list[float] = []
    warm: list[float] = []
    cold_cpu: list[float] = []
    warm_cpu: list[float] = []
    findings = affected = errors = 0
    for _ in range(repeat):
        shutil.rmtree(cache, ignore_errors=True)
        elapsed, cpu, findings, affected, errors = session()
        cold.append(elapsed)
        cold_cpu.append(cpu)
        for _ in range(3):
            elapsed, cpu, *_ = session()
            warm.append(elapsed)
            warm_cpu.append(cpu)
    return AuditResult(snapshot, cold, warm, cold_cpu, warm_cpu, findings, affected, errors)


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def render(result: AuditResult) -> list[str]:
    snap = result.snapshot
    n = len(snap.pins)
    cold, warm = statistics.median(result.cold), statistics.median(result.warm)
    verdict = {
        True: "met",
        False: "**missed**",
    }
    return [
        "",
        f"## Dependency audit: {n} pinned requirements, offline OSV snapshot",
        "",
        f"Snapshot (generated, `benchmarks/dependency_audit.py`): {snap.records:,} OSV records "
        f"over {snap.packages:,} packages, {snap.size / (1 << 20):,.0f} MiB of JSON in a "
        "directory. Each run is a new session of the `vulnerabilities` check over every "
        f"dependency item; {len(result.cold)} cold run(s) (empty cache: the snapshot is indexed), "
        f"{len(result.warm)} warm run(s) (cache filled by the cold run).",
        "",
        "| run | median (wall) | min (wall) | CPU time (median) | per dependency (wall) | target | |",
        "|---|---:|---:|---:|---:|---:|---|",
        f"| cold (index + audit) | {fmt(cold)} | {fmt(min(result.cold))} "
        f"| {fmt(statistics.median(result.cold_cpu))} | {fmt(cold / n)} "
        f"| < {COLD_TARGET:g} s | {verdict[cold < COLD_TARGET]} |",
        f"| warm (cache hit) | {fmt(warm)} | {fmt(min(result.warm))} "
        f"| {fmt(statistics.median(result.warm_cpu))} | {fmt(warm / n)} "
        f"| < {WARM_TARGET:g} s | {verdict[warm < WARM_TARGET]} |",
        "",
        "The target is judged on the wall-clock median; the CPU time (this process's, "
        "`time.process_time`) shows what the audit costs when the machine is shared: a wall time "
        "well above the CPU time means the process waited for a core or for the disk.",
        "",
        f"The audit found {result.findings:,} advisories affecting {result.affected} of the "
        f"{n} pins ({result.errors} errors).",
    ]


def run(*, quick: bool, repeat: int | None = None, workdir: Path | None = None) -> AuditResult:
    scale = 10 if quick else 1
    repeat = repeat or (1 if quick else 5)
    with tempfile.TemporaryDirectory(prefix="mlsupply-audit-", dir=workdir) as tmp:
        snapshot = generate(
            Path(tmp) / "osv",
            records=RECORDS // scale,
            packages=PACKAGES // scale,
            pins=PINS // scale,
        )
        return measure(snapshot, Path(tmp) / "project", repeat)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a tenth of the size, 1 repetition")
    parser.add_argument("--repeat", type=int, help="cold repetitions (default 5; 1 with --quick)")
    args = parser.parse_args(argv)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    command = "python benchmarks/dependency_audit.py " + " ".join(argv or sys.argv[1:])
    lines = render(run(quick=args.quick, repeat=args.repeat))
    lines[1:1] = [
        "",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}; command: "
        f"`{command.strip()}`; {os.cpu_count()} CPUs, load average (1, 5, 15 min) at start: {load}",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
