"""Time one scanner on a list of targets, in its own process; print the figures as JSON.

Run as ``python worker.py JOB.json`` with the interpreter whose environment has the tool (our
package, or picklescan / modelscan in their own virtual environment): this file imports nothing
outside the standard library at module level. Timing is in-process with ``time.perf_counter``
around the tool's documented Python API, so interpreter start-up and imports are excluded from
per-file figures; the import time is measured once and reported separately.

A job is ``{"tool", "repeat", "timeout", "profile", "targets": [{"id", "path"}]}``. Every target
is scanned once unmeasured (warm caches and lazy imports; this pass gives the verdict), then
``repeat`` measured times. Verdicts: ``flagged`` (the tool's own failing decision), ``clean``,
``error`` (the tool reported it could not scan), ``unsupported`` (the tool skipped the file),
``crash`` (the tool raised), ``timeout``.
"""

from __future__ import annotations

import contextlib
import copy
import cProfile
import importlib.metadata
import io
import json
import logging
import pstats
import resource
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: A scanner under test: path → (verdict, short detail).
Scan = Callable[[Path], tuple[str, str]]

#: Address-space cap for the worker: a decompression bomb must not take the machine down.
MEMORY_LIMIT = 12 << 30


class ScanTimeout(Exception):
    pass


def _on_alarm(_signum: int, _frame: object) -> None:
    raise ScanTimeout


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _files_below(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file() or p.is_symlink())


def load_mlsupply() -> tuple[Scan, str]:
    from pytest_mlsupply.engines.scanner import scan_file
    from pytest_mlsupply.results import Severity

    def scan(path: Path) -> tuple[str, str]:
        # A directory (repository-level sample) is scanned file by file, as the corpus test and
        # the pytest plugin do.
        files = [path] if path.is_file() else _files_below(path)
        blocking: set[str] = set()
        errors: list[str] = []
        for file in files:
            subject = file.name if file == path else file.relative_to(path).as_posix()
            report = scan_file(file, subject)
            blocking |= {f.rule for f in report.findings if f.severity >= Severity.HIGH}
            errors += report.errors
        if blocking:
            return "flagged", ", ".join(sorted(blocking))
        if errors:
            return "error", errors[0][:200]
        return "clean", ""

    return scan, importlib.metadata.version("pytest-mlsupply")


def load_picklescan() -> tuple[Scan, str]:
    from picklescan.scanner import (  # type: ignore[import-not-found]
        scan_directory_path,
        scan_file_path,
    )

    logging.getLogger("picklescan").setLevel(logging.CRITICAL)

    def scan(path: Path) -> tuple[str, str]:
        result = scan_directory_path(str(path)) if path.is_dir() else scan_file_path(str(path))
        # The CLI exits 1 on dangerous globals (issues_count); suspicious ones do not fail it.
        if result.issues_count:
            dangerous = sorted(
                {f"{g.module}.{g.name}" for g in result.globals if g.safety.name == "Dangerous"}
            )
            return "flagged", ", ".join(dangerous)[:200]
        if result.scan_err:
            return "error", "scan_err"
        if not result.scanned_files:
            return "unsupported", "no file scanned"
        return "clean", f"{result.suspicious_count} suspicious" if result.suspicious_count else ""

    return scan, importlib.metadata.version("picklescan")


def load_modelscan() -> tuple[Scan, str]:
    from modelscan.modelscan import ModelScan  # type: ignore[import-not-found]
    from modelscan.settings import DEFAULT_SETTINGS  # type: ignore[import-not-found]

    logging.getLogger("modelscan").setLevel(logging.CRITICAL)

    def scan(path: Path) -> tuple[str, str]:
        # A fresh instance per scan, as the CLI makes one per invocation (settings are mutable).
        scanner = ModelScan(settings=copy.deepcopy(DEFAULT_SETTINGS))
        scanner.scan(str(path))
        # The CLI's exit codes: 3 nothing supported, 2 errors, 1 any issue, 0 clean. Issues come
        # first here so that a payload reported alongside an error still counts as flagged.
        issues = scanner.issues.all_issues
        if issues:
            worst = max(issue.severity.value for issue in issues)
            names = sorted(
                {issue.severity.name for issue in issues if issue.severity.value == worst}
            )
            return "flagged", f"{len(issues)} issues, worst {names[0]}"
        if scanner.errors:
            return "error", str(scanner.errors[0])[:200]
        if not scanner.scanned:
            return "unsupported", "no supported file"
        return "clean", ""

    return scan, importlib.metadata.version("modelscan")


TOOLS: dict[str, Callable[[], tuple[Scan, str]]] = {
    "mlsupply": load_mlsupply,
    "picklescan": load_picklescan,
    "modelscan": load_modelscan,
}


def _once(scan: Scan, path: Path, timeout: float) -> tuple[str, str, float]:
    start = time.perf_counter()
    try:
        with _deadline(timeout):
            verdict, detail = scan(path)
    except ScanTimeout:
        return "timeout", f"over {timeout:.0f} s", time.perf_counter() - start
    except Exception as exc:  # a baseline's crash is a result, not the benchmark's failure
        return "crash", f"{type(exc).__name__}: {exc}"[:200], time.perf_counter() - start
    return verdict, detail, time.perf_counter() - start


def run(job: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    scan, version = TOOLS[job["tool"]]()
    import_seconds = time.perf_counter() - start
    timeout = float(job.get("timeout", 60))
    targets: list[dict[str, Any]] = []
    for target in job["targets"]:
        path = Path(target["path"])
        verdict, detail, first = _once(scan, path, timeout)
        times: list[float] = []
        if verdict not in ("timeout",):
            for _ in range(int(job["repeat"])):
                times.append(_once(scan, path, timeout)[2])
        entry: dict[str, Any] = {
            "id": target["id"],
            "verdict": verdict,
            "detail": detail,
            "first": first,
            "times": times,
        }
        if job.get("profile"):
            entry["profile"] = _profile(scan, path)
        targets.append(entry)
    return {
        "tool": job["tool"],
        "version": version,
        "python": sys.version.split()[0],
        "import_seconds": import_seconds,
        "targets": targets,
    }


def _profile(scan: Scan, path: Path) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    with contextlib.suppress(Exception):
        scan(path)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    return out.getvalue()


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[1]).read_text())
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    signal.signal(signal.SIGALRM, _on_alarm)
    # The tools print progress and banners; only our JSON may reach stdout.
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        result = run(job)
    finally:
        sys.stdout = real_stdout
    json.dump(result, real_stdout)
    real_stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
