"""Measure the scanner: 1 GB checkpoints, the test corpus, and picklescan / modelscan beside it.

    python benchmarks/run.py            # full run (1 GiB files, 5 repetitions); writes results.md
    python benchmarks/run.py --quick    # smoke run (64 MiB files, 1 repetition); writes nothing

Inputs are generated into ``benchmarks/.data/`` (git-ignored) and the corpus is built from
``tests.corpus`` into a temporary folder. Each tool runs in its own worker process
(``benchmarks/worker.py``) under the interpreter whose environment has it; figures are
in-process ``time.perf_counter`` medians over repeated scans after one warm-up scan, so
interpreter start-up and imports are excluded and reported separately. See README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

import dependency_audit  # noqa: E402  (the path set-up above must come first)
from generate import (  # noqa: E402
    MIB,
    Artifact,
    CorpusEntry,
    build_corpus,
    build_ecosystem,
    build_real_torch,
    build_safetensors,
    build_torch_zip,
)

BASELINES = ("picklescan", "modelscan")
BASELINE_VENV = HERE / ".data" / "venv-baselines"
#: What gives the baselines their best showing. modelscan needs its extras to scan Keras and
#: HDF5 files at all (without them every such sample is an error), and its numpy scanner calls
#: ``numpy.lib.format._check_version``, which numpy 2.4 no longer has (every .npy would be an
#: error); numpy 1.26 is the newest line tensorflow accepts that has it, with ml-dtypes < 0.6.
BASELINE_REQUIREMENTS = (
    "picklescan",
    "modelscan[tensorflow,h5py]",
    "numpy<2",
    "ml-dtypes<0.6",
    # Only benchmarks/speed.py's side-by-side (f) runs ModelAudit (its CLI); it is installed
    # here, beside the others, so it never lands in the project's own environment. With
    # numpy<2 pip picks a ModelAudit release that accepts numpy 1.26.
    "modelaudit",
)
#: A container scan that skips tensor data by offsets is flat in file size; slower than this
#: per GiB (with a floor for small files, where noise dominates) means something reads the data.
SCALING_BUDGET_PER_GIB = 1.0
SCALING_FLOOR = 0.25


@dataclass
class ToolRun:
    """One tool's results from its worker: per-target verdicts and timings."""

    tool: str
    python: str
    version: str = "?"
    import_seconds: float = 0.0
    startup_seconds: float = 0.0
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    failure: str | None = None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- environment ----------------------------------------------------------------------------


def machine() -> dict[str, str]:
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
    except OSError:
        pass
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "load": load,
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def baseline_python(explicit: str | None) -> str | None:
    """The interpreter with picklescan/modelscan: given, the benchmark venv, or this one."""
    if explicit:
        return explicit
    candidate = BASELINE_VENV / "bin" / "python"
    if candidate.exists():
        return str(candidate)
    if all(_importable(sys.executable, tool) for tool in BASELINES):
        return sys.executable
    return None


def _importable(python: str, module: str) -> bool:
    probe = subprocess.run(
        [python, "-c", f"import {module}"], capture_output=True, timeout=120, check=False
    )
    return probe.returncode == 0


def install_baselines() -> str:
    """Create ``.data/venv-baselines`` with picklescan, modelscan and ModelAudit from the index."""
    if not (BASELINE_VENV / "bin" / "python").exists():
        log(f"creating {BASELINE_VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(BASELINE_VENV)], check=True)
    pip = [str(BASELINE_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, *BASELINE_REQUIREMENTS], check=True)
    return str(BASELINE_VENV / "bin" / "python")


def interpreter_startup(python: str, runs: int = 5) -> float:
    """Median wall time of ``python -c pass``: what every CLI invocation pays on top."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- running the workers --------------------------------------------------------------------


def run_worker(
    run: ToolRun,
    targets: Sequence[tuple[str, Path]],
    repeat: int,
    timeout: float,
    *,
    profile: bool = False,
) -> None:
    job = {
        "tool": run.tool,
        "repeat": repeat,
        "timeout": timeout,
        "profile": profile,
        "targets": [{"id": name, "path": str(path)} for name, path in targets],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(job, handle)
    try:
        budget = 120 + len(targets) * (repeat + 2) * timeout
        proc = subprocess.run(
            [run.python, str(HERE / "worker.py"), handle.name],
            capture_output=True,
            text=True,
            timeout=budget,
            check=False,
            cwd=tempfile.gettempdir(),  # no modelscan-settings.toml or stray config is picked up
        )
    finally:
        os.unlink(handle.name)
    if proc.returncode != 0:
        run.failure = (proc.stderr.strip().splitlines() or ["worker failed"])[-1]
        log(f"  {run.tool}: worker failed: {run.failure}")
        return
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    run.version = result["version"]
    run.import_seconds = result["import_seconds"]
    for entry in result["targets"]:
        run.targets[entry["id"]] = entry


# --- statistics and formatting --------------------------------------------------------------


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: with few samples it is an observed value)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def timings(entry: dict[str, Any] | None) -> list[float]:
    if not entry:
        return []
    times: list[float] = entry["times"] or [entry["first"]]
    return times


def median_of(entry: dict[str, Any] | None) -> float | None:
    """The median scan time, or None when there is no meaningful time (a crash, a timeout)."""
    if not entry or entry["verdict"] in ("crash", "timeout"):
        return None
    times = timings(entry)
    return statistics.median(times) if times else None


def ratio(baseline: float | None, ours: float | None) -> str:
    if baseline is None or not ours:
        return "-"
    return f"{baseline / ours:,.1f}x"


MALICIOUS_CELL = {
    "flagged": "flagged",
    "clean": "**missed**",
    "error": "error (no verdict)",
    "unsupported": "**skipped**",
    "crash": "crash",
    "timeout": "timeout",
}
BENIGN_CELL = {
    "flagged": "**false alarm**",
    "clean": "clean",
    "error": "error",
    "unsupported": "skipped",
    "crash": "crash",
    "timeout": "timeout",
}


def render(
    *,
    runs: list[ToolRun],
    artifacts: list[Artifact],
    scaling: list[tuple[Artifact, Artifact]],
    corpus: list[CorpusEntry],
    repeat: int,
    command: str,
    info: dict[str, str],
    canaries: list[str],
    profiles: dict[str, str],
    notes: list[str],
    audit: list[str] | None = None,
) -> str:
    ours = runs[0]
    baselines = runs[1:]
    names = [r.tool for r in runs]
    lines = [
        "# Scanner benchmark",
        "",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM, {info['os']}",
        f"- load average (1, 5, 15 min) at start: {info['load']} (other work on the machine "
        "adds noise to the figures; ratios are measured in the same run)",
        f"- python: {info['python']}",
        f"- command: `{command}`",
        "- tools: "
        + ", ".join(
            f"{r.tool} {r.version}" + (f" (failed: {r.failure})" if r.failure else "") for r in runs
        ),
        f"- method: each tool runs in its own worker process and scans each input once to warm "
        f"up (page cache, lazy imports), then {repeat} measured times with `time.perf_counter` "
        f"around its Python API; figures exclude interpreter start-up and imports (below).",
        "",
        "## Large files",
        "",
        "| input | size | "
        + " | ".join(f"{n} median (min)" for n in names)
        + "".join(f" | {b.tool} ÷ {ours.tool}" for b in baselines)
        + " |",
        "|---|---:|" + "---:|" * len(names) + "---:|" * len(baselines),
    ]
    for artifact in artifacts:
        cells = []
        for run in runs:
            entry = run.targets.get(artifact.name)
            if entry is None:
                cells.append("not run")
                continue
            times = timings(entry)
            cell = f"{fmt_time(statistics.median(times))} ({fmt_time(min(times))})"
            if entry["verdict"] != "clean":
                cell += f" — {entry['verdict']}"
            cells.append(cell)
        ours_median = median_of(ours.targets.get(artifact.name))
        ratios = [ratio(median_of(b.targets.get(artifact.name)), ours_median) for b in baselines]
        lines.append(
            f"| {artifact.name} | {artifact.size / MIB:,.0f} MiB | "
            + " | ".join(cells + ratios)
            + " |"
        )
    lines += ["", "Inputs:"] + [f"- {a.name} (`{a.path.name}`): {a.description}" for a in artifacts]
    lines += [
        "",
        "A ratio above 1 means the baseline took that many times longer than pytest-mlsupply. "
        "A verdict is shown when a tool did not call the benign file clean.",
    ]

    if scaling:
        lines += [
            "",
            "## Scaling with file size",
            "",
            "The same layouts at 1/16 of the size. A scan that skips tensor data using the "
            "container's offsets takes the same time whatever the size (ratio near 1).",
            "",
            "| input | small | large | " + " | ".join(f"{n} large ÷ small" for n in names) + " |",
            "|---|---:|---:|" + "---:|" * len(names),
        ]
        for small, large in scaling:
            cells = [
                ratio(median_of(r.targets.get(large.name)), median_of(r.targets.get(small.name)))
                for r in runs
            ]
            lines.append(
                f"| {large.name} | {small.size / MIB:,.0f} MiB | {large.size / MIB:,.0f} MiB | "
                + " | ".join(cells)
                + " |"
            )

    lines += ["", f"## Test corpus: scan time per sample ({len(corpus)} samples)", ""]
    if not corpus:
        lines.append("The corpus is empty (no `tests/corpus/<family>.py` modules yet).")
    else:
        lines += [
            "| tool | median | p95 | max | total | total ÷ ours |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        ours_total = sum(median_of(ours.targets.get(c.name)) or 0.0 for c in corpus)
        for run in runs:
            per = [m for c in corpus if (m := median_of(run.targets.get(c.name))) is not None]
            if not per:
                lines.append(f"| {run.tool} | - | - | - | - | - |")
                continue
            total = sum(per)
            lines.append(
                f"| {run.tool} | {fmt_time(statistics.median(per))} | {fmt_time(percentile(per, 95))} "
                f"| {fmt_time(max(per))} | {fmt_time(total)} | "
                f"{'1.0x' if run is ours else ratio(total, ours_total)} |"
            )
        slowest = sorted(
            ((m, c.name) for c in corpus if (m := median_of(ours.targets.get(c.name))) is not None),
            reverse=True,
        )[:5]
        lines += [
            "",
            f"Slowest samples for {ours.tool}: "
            + ", ".join(f"{name} ({fmt_time(m)})" for m, name in slowest)
            + ".",
        ]
        lines += [
            "",
            "Per sample: the median of the measured scans; a directory sample (a model "
            "repository) counts as one sample. Baselines skip what they do not support, which "
            "makes them faster on those samples.",
        ]

    lines += audit or []
    lines += ["", "## Start-up (paid once per CLI invocation, excluded above)", ""]
    lines += ["| tool | interpreter start | tool import |", "|---|---:|---:|"]
    for run in runs:
        lines.append(
            f"| {run.tool} | {fmt_time(run.startup_seconds)} | {fmt_time(run.import_seconds)} |"
        )

    lines += detection_section(runs, corpus)
    lines += ["", "## Safety", ""]
    if canaries:
        lines.append(
            "**Canary files appeared while scanning** (a payload ran): " + ", ".join(canaries)
        )
    else:
        lines.append(
            f"No canary file appeared while any tool scanned the {len(corpus)} corpus samples."
        )
    if notes or profiles:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    for name, text in profiles.items():
        lines += [
            "",
            f"### Profile: {name} (`cProfile`, top 25 by cumulative time)",
            "",
            "```",
            text.strip(),
            "```",
        ]
    return "\n".join(lines) + "\n"


def detection_section(runs: list[ToolRun], corpus: list[CorpusEntry]) -> list[str]:
    if not corpus:
        return []
    names = [r.tool for r in runs]
    malicious = [c for c in corpus if c.malicious]
    benign = [c for c in corpus if not c.malicious]
    lines = [
        "",
        "## Detection on the test corpus",
        "",
        "Each tool's own failing decision: pytest-mlsupply flags findings at high or above "
        "(`--fail-on high`, the default); picklescan flags dangerous globals (its exit code 1); "
        "modelscan flags any issue (its exit code 1). `error` means the tool said it could not "
        "scan (pytest-mlsupply then fails the item: exit 2, never a pass); `skipped` means the "
        "tool does not look at that file.",
        "",
        "| tool | malicious flagged | missed | skipped | error / crash | benign false alarms | benign errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        if run.failure:
            lines.append(f"| {run.tool} | worker failed | | | | | |")
            continue
        verdicts_m = [run.targets.get(c.name, {}).get("verdict", "crash") for c in malicious]
        verdicts_b = [run.targets.get(c.name, {}).get("verdict", "crash") for c in benign]
        lines.append(
            f"| {run.tool} | {verdicts_m.count('flagged')}/{len(malicious)} "
            f"| {verdicts_m.count('clean')} | {verdicts_m.count('unsupported')} "
            f"| {sum(verdicts_m.count(v) for v in ('error', 'crash', 'timeout'))} "
            f"| {verdicts_b.count('flagged')}/{len(benign)} "
            f"| {sum(verdicts_b.count(v) for v in ('error', 'crash', 'timeout'))} |"
        )
    formats = sorted({c.format for c in malicious})
    if formats:
        lines += [
            "",
            "Malicious samples flagged, by format (identified by content):",
            "",
            "| format | samples | " + " | ".join(names) + " |",
            "|---|---:|" + "---:|" * len(names),
        ]
        for fmt in formats:
            group = [c for c in malicious if c.format == fmt]
            counts = [
                str(sum(run.targets.get(c.name, {}).get("verdict") == "flagged" for c in group))
                for run in runs
            ]
            lines.append(f"| {fmt} | {len(group)} | " + " | ".join(counts) + " |")
    lines += [
        "",
        "picklescan treats a file it is given as a pickle whatever its format and reports no "
        "issue when it finds no dangerous global; modelscan picks scanners by file extension "
        "and skips the rest. Both are counted as they appear to a user: no alarm.",
    ]
    for title, group, cells in (
        ("Malicious samples", malicious, MALICIOUS_CELL),
        ("Benign samples", benign, BENIGN_CELL),
    ):
        extra = " technique |" if group is malicious else ""
        lines += ["", f"### {title}", "", "| sample | format | " + " | ".join(names) + " |" + extra]
        lines.append("|---|---|" + "---|" * len(names) + ("---|" if extra else ""))
        for entry in group:
            row = []
            for run in runs:
                target = run.targets.get(entry.name)
                row.append(cells[target["verdict"]] if target else "not run")
            if extra:
                row.append(entry.technique.replace("|", "/"))
            lines.append(f"| {entry.name} | {entry.format} | " + " | ".join(row) + " |")
    return lines


# --- main -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="64 MiB files, 1 repetition, no torch.save file, no results.md",
    )
    parser.add_argument("--size-mb", type=int, help="size of each large file in MiB (default 1024)")
    parser.add_argument("--repeat", type=int, help="measured repetitions (default 5)")
    parser.add_argument("--no-baselines", action="store_true", help="measure pytest-mlsupply only")
    parser.add_argument(
        "--ecosystem",
        action="store_true",
        help="add the benign ecosystem corpus (tests/ecosystem, ~300 files made by the real "
        "libraries) to the false-alarm set",
    )
    parser.add_argument(
        "--install-baselines",
        action="store_true",
        help=f"pip install {', '.join(BASELINES)} and modelaudit into "
        f"{BASELINE_VENV.relative_to(ROOT)}",
    )
    parser.add_argument("--baseline-python", help="interpreter that has picklescan and modelscan")
    parser.add_argument(
        "--data-dir", type=Path, default=HERE / ".data", help="where large inputs go"
    )
    parser.add_argument(
        "--results", type=Path, help="write the Markdown here (default: results.md on a full run)"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per scan before a tool is stopped"
    )
    args = parser.parse_args(argv)

    size_mb = args.size_mb or (64 if args.quick else 1024)
    repeat = args.repeat or (1 if args.quick else 5)
    results_path = args.results or (None if args.quick else HERE / "results.md")
    command = (
        "python benchmarks/run.py"
        + (" " + shlex.join(argv if argv is not None else sys.argv[1:])).rstrip()
    )
    info = machine()

    runs = [ToolRun("mlsupply", sys.executable)]
    notes: list[str] = []
    if not args.no_baselines:
        python = (
            install_baselines() if args.install_baselines else baseline_python(args.baseline_python)
        )
        if python is None:
            notes.append("picklescan and modelscan were not found: run with --install-baselines.")
        for tool in BASELINES:
            if python and _importable(python, tool):
                runs.append(ToolRun(tool, python))
            elif python:
                notes.append(f"{tool} is not importable by {python}; not measured.")

    if any(run.tool == "modelscan" for run in runs):
        notes.append(
            "The corpus's `.keras` archives carry a stand-in `model.weights.h5` and its legacy "
            "`.h5` samples are hand-built HDF5 fragments (the project's environment has no "
            "h5py); h5py cannot open them, so modelscan's errors on keras-v3 and hdf5 samples "
            "come partly from the corpus, and say little about real Keras files."
        )
    log(f"building {size_mb} MiB inputs in {args.data_dir}")
    size = size_mb * MIB
    small_mb = max(1, size_mb // 16)
    builders: list[Callable[[int], Artifact]] = [
        lambda mb: build_torch_zip(args.data_dir / f"checkpoint-{mb}m.pt", mb * MIB),
        lambda mb: build_safetensors(args.data_dir / f"model-{mb}m.safetensors", mb * MIB),
    ]
    artifacts = [build(size_mb) for build in builders]
    # Importing torch costs seconds; the smoke run does without the real torch.save file.
    real = (
        None if args.quick else build_real_torch(args.data_dir / f"torch-save-{size_mb}m.pt", size)
    )
    if real is not None:
        artifacts.append(real)
    elif not args.quick:
        notes.append(
            "torch is not importable here: only the hand-built torch.save layout was measured."
        )
    # The same layouts at 1/16 of the size: a scan that skips tensor data takes the same time.
    scaling = [
        (replace(small, name=f"{big.name}, {small_mb} MiB"), big)
        for big, small in zip(artifacts, [build(small_mb) for build in builders], strict=False)
    ]
    measured = artifacts + [small for small, _ in scaling]

    with tempfile.TemporaryDirectory(prefix="mlsupply-bench-") as tmp:
        log("building the test corpus")
        corpus = build_corpus(Path(tmp))
        if args.ecosystem:
            log("building the benign ecosystem corpus (tests/ecosystem)")
            corpus += build_ecosystem(Path(tmp))
        big = [(a.name, a.path) for a in measured]
        samples = [(c.name, c.path) for c in corpus]
        for run in runs:
            log(
                f"measuring {run.tool} ({len(big)} large files, {len(samples)} corpus samples, x{repeat})"
            )
            run.startup_seconds = interpreter_startup(run.python)
            run_worker(run, big + samples, repeat, args.timeout)
        canaries = [c.name for c in corpus if c.canary.exists()]

        profiles: dict[str, str] = {}
        budget = SCALING_BUDGET_PER_GIB * max(size / (1 << 30), SCALING_FLOOR)
        for artifact in artifacts:
            median = median_of(runs[0].targets.get(artifact.name))
            if median is not None and median > budget:
                notes.append(
                    f"pytest-mlsupply took {fmt_time(median)} on the {artifact.size / MIB:,.0f} MiB "
                    f"{artifact.name}, over the {fmt_time(budget)} budget for a scan that skips "
                    "tensor data by offsets: see the profile below."
                )
                probe = ToolRun("mlsupply", sys.executable)
                run_worker(probe, [(artifact.name, artifact.path)], 0, args.timeout, profile=True)
                profiles[artifact.name] = probe.targets.get(artifact.name, {}).get("profile", "")
            entry = runs[0].targets.get(artifact.name)
            if entry and entry["verdict"] != "clean":
                notes.append(
                    f"pytest-mlsupply on {artifact.name}: {entry['verdict']}: {entry['detail']}"
                )

        log("measuring the dependency audit (offline OSV snapshot)")
        audit = dependency_audit.render(
            dependency_audit.run(quick=args.quick, repeat=args.repeat, workdir=Path(tmp))
        )
        report = render(
            audit=audit,
            runs=runs,
            artifacts=artifacts,
            scaling=scaling,
            corpus=corpus,
            repeat=repeat,
            command=command,
            info=info,
            canaries=canaries,
            profiles=profiles,
            notes=notes,
        )
    print(report)
    if results_path is not None:
        results_path.write_text(report)
        log(f"wrote {results_path}")
    return 1 if canaries else 0


if __name__ == "__main__":
    raise SystemExit(main())
