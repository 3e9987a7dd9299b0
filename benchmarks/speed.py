"""Measure the speed targets of issue 12, (a) to (f), each against a baseline of the same run.

    python benchmarks/speed.py                 # full run: 1 GiB inputs, 5 repetitions; writes docs/performance.md
    python benchmarks/speed.py --quick         # smoke run: tiny inputs, 1 repetition; prints only
    python benchmarks/speed.py --only a,c      # some targets only

Every figure is the wall time of a real command in a fresh process (``python -m pytest ...``,
``mlsupply scan ...``), except (e), which times the package's own BOM functions in fresh
processes. Each series gets one unmeasured warm-up run first (page cache, ``.pyc`` files), so
the page cache is warm for every tool and for the baseline alike; gate and baseline runs are
interleaved, so a burst of load from another job hits both. See benchmarks/README.md.

- (a) cold gate over a torch checkpoint and a safetensors file (no content cache:
  ``-p no:cacheprovider``), with ``-n 0`` and ``-n 2 --dist loadgroup``, vs. one thread of
  ``hashlib.file_digest(sha256)`` over the same files: ratio, target <= 1.0x; and ``-n 2``
  vs. ``-n 0`` on a model of several checkpoints whose deep scan is the work: speed-up,
  target close to 2x;
- (b) warm re-run (``.pytest_cache`` filled by a first run) vs. ``pytest -p no:mlsupply`` on
  the same directory: difference, target < 0.3 s;
- (c) plugin installed but off vs. ``-p no:mlsupply``: difference, target < 20 ms;
- (d) about 5,000 generated items vs. as many trivial parametrized tests: difference per item,
  target < 2 ms; also warm (the content cache filled), and the session end's own time;
- (e) ``build_bom`` (assembly and CycloneDX validation) for 1,000 file components, first call
  in a fresh process, target < 200 ms; and both forms (JSON and XML) from one assembly, as the
  plugin writes them when an XML BOM is asked for;
- (f) ``mlsupply scan``, ModelAudit and modelscan on the same torch checkpoint: ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from generate import MIB, build_safetensors, build_torch_zip  # noqa: E402
from run import BASELINE_VENV, fmt_time, log, machine  # noqa: E402

DOC = ROOT / "docs" / "performance.md"
TARGETS = "abcdef"
#: The issue's targets.
COLD_RATIO_TARGET = 1.0
WARM_OVERHEAD_TARGET = 0.3
INERT_OVERHEAD_TARGET = 0.020
ITEM_OVERHEAD_TARGET = 0.002
#: "-n 2 ... runs close to 2x faster than -n 0": at least this speed-up on two cores.
XDIST_SPEEDUP_TARGET = 1.7
#: The scan-bound model of (a): shards, and tensors (storages) in each shard's pickle.
SCAN_SHARDS = 4
SCAN_TENSORS = 30_000
BOM_TARGET = 0.200
#: Generated items for (d): tiny safetensors files, each planned as sha256, format and scan.
DEFAULT_ITEMS = 5_000
CHECKS_PER_TINY_FILE = 3
BOM_COMPONENTS = 1_000
#: Exit statuses that mean "the tool ran to the end" (pytest: 0 passed, 1 some failed).
PYTEST_RAN = (0, 1)
_COUNTS = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)")


class BenchError(Exception):
    """A measured command did not run to the end: its figures would be meaningless."""


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Series:
    label: str
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        return min(self.times)


@dataclass
class Command:
    argv: list[str]
    cwd: Path
    ok: tuple[int, ...] = (0,)
    env: dict[str, str] = field(default_factory=dict)
    before: Callable[[], None] | None = None
    """Run before each measured run, untimed (e.g. clearing a cache for a cold run)."""


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This interpreter's environment for a measured child, minus what would change its run.

    ``PYTEST_*`` variables come from an enclosing pytest (the smoke test under xdist sets
    ``PYTEST_XDIST_WORKER``, which would make the child think it is a worker). The checkout's
    package comes first on the path, so the code measured is this worktree's.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    # Byte-code caching on, as on a developer's machine: with PYTHONDONTWRITEBYTECODE every
    # gate run recompiles (and assertion-rewrites) each of the package's modules, seconds
    # that the baseline, whose modules are all compiled in site-packages, never pays.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(ROOT)
    env["HF_HUB_OFFLINE"] = "1"  # nothing measured may wait on the network
    env.update(extra or {})
    return env


def run_once(command: Command, timeout: float) -> tuple[float, subprocess.CompletedProcess[str]]:
    if command.before is not None:
        command.before()
    start = time.perf_counter()
    proc = subprocess.run(
        command.argv,
        cwd=command.cwd,
        env=child_env(command.env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in command.ok:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        raise BenchError(
            f"`{shlex.join(command.argv)}` exited {proc.returncode}: {' / '.join(tail) or '?'}"
        )
    return elapsed, proc


def interleaved(
    commands: dict[str, Command], repeat: int, *, warmup: bool, timeout: float
) -> dict[str, Series]:
    """Each command ``repeat`` times, round-robin, after one unmeasured warm-up of each."""
    series = {label: Series(label) for label in commands}
    if warmup:
        for command in commands.values():
            run_once(command, timeout)
    for _ in range(repeat):
        for label, command in commands.items():
            series[label].times.append(run_once(command, timeout)[0])
    return series


def item_count(stdout: str) -> int:
    """How many items a ``pytest -q`` session ran, from its summary line."""
    summary = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    return sum(int(n) for n, _ in _COUNTS.findall(summary))


# --- the report -----------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    series: Series
    baseline: Series | None
    figure: str
    """The derived figure the target is about: a ratio, a difference or a per-item cost."""
    target: str
    met: bool | None
    headline: bool = False
    """Shown in the summary table too (the section's first row always is)."""


@dataclass
class Section:
    key: str
    title: str
    text: list[str]
    baseline_label: str = ""
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failure: str | None = None


def render_section(section: Section) -> list[str]:
    out = [f"## ({section.key}) {section.title}", "", *section.text, ""]
    if section.failure is not None:
        out += [f"**Not measured:** {section.failure}", ""]
    if section.rows:
        out += [
            f"| run | median | min | runs | baseline median ({section.baseline_label}) "
            "| figure | target | met |",
            "|---|---:|---:|---:|---:|---:|---|---|",
        ]
        for row in section.rows:
            met = "-" if row.met is None else ("met" if row.met else "**not met**")
            base = fmt_time(row.baseline.median) if row.baseline else "-"
            out.append(
                f"| {row.label} | {fmt_time(row.series.median)} | {fmt_time(row.series.min)} "
                f"| {len(row.series.times)} | {base} | {row.figure} | {row.target} | {met} |"
            )
        out.append("")
    out += [f"- {note}" for note in section.notes]
    if section.notes:
        out.append("")
    return out


def wait_until_cacheable(folder: Path) -> None:
    """Sleep until every file in ``folder`` is older than the window after which the content
    cache trusts a file's identity (the kernel's dirty-page lifetime, 80 s by default), as in
    a real re-run: files generated a moment ago would otherwise be read again on every run."""
    from pytest_mlsupply.checks.content_store import mapped_write_window_ns

    files = [p for p in folder.rglob("*") if p.is_file()]
    if not files:
        return
    stats = [p.stat() for p in files]
    window = mapped_write_window_ns(stats[0].st_dev)
    if window is None:
        raise BenchError(f"{folder} is on a file system the content cache never trusts (tmpfs?)")
    newest = max(max(st.st_ctime_ns, st.st_mtime_ns) for st in stats)
    wait = (newest + window - time.time_ns()) / 1e9 + 0.5
    if wait > 0:
        log(f"waiting {wait:.0f} s until {folder}'s files are old enough to be cached")
        time.sleep(wait)


def gate_venv() -> str:
    """:data:`GATE_VENV`'s interpreter, the environment created (and this checkout installed)."""
    python = GATE_VENV / "bin" / "python"
    if not python.exists():
        log(f"creating {GATE_VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(GATE_VENV)], check=True)
    # Every time (a no-op when nothing changed): a dependency added since keeps the venv true.
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-e", str(ROOT), "pytest-xdist"],
        check=True,
    )
    return str(python)


_ENVIRONMENT = """
import json
from importlib import metadata
names = ("pytest", "pytest-xdist", "pytest-mlsupply", "cyclonedx-python-lib", "jsonschema-rs")
versions = {}
plugins = set()
count = 0
for dist in metadata.distributions():
    count += 1
    name = dist.metadata["Name"].lower().replace("_", "-")
    if name in names:
        versions[name] = dist.version
    if any(ep.group == "pytest11" for ep in dist.entry_points):
        plugins.add(name)
print(json.dumps({"versions": versions, "plugins": sorted(plugins), "count": count}))
"""


def environment() -> dict[str, Any]:
    """What the measured interpreter has: key versions, every pytest plugin, how many dists."""
    proc = subprocess.run(
        [PYTHON[0], "-c", _ENVIRONMENT], capture_output=True, text=True, check=True
    )
    found: dict[str, Any] = json.loads(proc.stdout)
    return found


def versions(python_for_tools: dict[str, str]) -> list[str]:
    found = [f"{name} {version}" for name, version in environment()["versions"].items()]
    for tool, version in python_for_tools.items():
        found.append(f"{tool} {version}")
    return found


def render(
    sections: Sequence[Section],
    *,
    command: str,
    info_before: dict[str, str],
    load_after: str,
    tool_versions: dict[str, str],
    size_mb: int,
    repeat: int,
) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    env = environment()
    out = [
        "# Performance",
        "",
        "How much the gate costs beside the work it must do (reading the bytes once), measured "
        "against baselines in the same run: the targets of issue 12. Produced by "
        "`benchmarks/speed.py`; see "
        "`benchmarks/README.md` for how each figure is measured.",
        "",
        f"- **Date:** {now}",
        f"- **Machine:** {info_before['cpu']}, {info_before['nproc']} cores, "
        f"{info_before['memory']} RAM, {info_before['os']}",
        f"- **Python:** {info_before['python']}",
        f"- **Packages:** {', '.join(versions(tool_versions))}",
        f"- **Measured interpreter:** `{PYTHON[0]}` ({env['count']} distributions; pytest "
        f"plugins: {', '.join(env['plugins']) or 'none'})",
        f"- **Load average** (1, 5, 15 min): {info_before['load']} at the start, {load_after} "
        "at the end. The machine is shared with other jobs: wall times on a loaded machine are "
        "longer for the gate and the baseline alike; read the ratios.",
        f"- **Command:** `{command}`",
        f"- **Inputs:** {size_mb} MiB per large file; every series is the median of {repeat} "
        "runs after one unmeasured warm-up (warm page cache for every tool and baseline), gate "
        "and baseline runs interleaved.",
        "",
        "| target | figure | target | met |",
        "|---|---:|---|---|",
    ]
    sections = sorted(sections, key=lambda section: section.key)  # --only c,a reads a, c
    for section in sections:
        if section.failure is not None and not section.rows:
            out.append(f"| ({section.key}) {section.title} | not measured | - | - |")
        if section.rows and all(row.met is None for row in section.rows):
            # A comparison, not a target: every tool's ratio but the reference's own 1.00x.
            figures = ", ".join(
                f"{r.label} {r.figure}" for r in section.rows if r.series is not r.baseline
            )
            out.append(f"| ({section.key}) {section.title} | {figures or '-'} | (comparison) | - |")
            continue
        # The first row is the one the target is about; a headline row is a second target.
        for index, row in enumerate(section.rows):
            if index and not row.headline:
                continue
            met = "-" if row.met is None else ("met" if row.met else "**not met**")
            title = section.title if not index else row.label
            out.append(f"| ({section.key}) {title} | {row.figure} | {row.target} | {met} |")
    out.append("")
    for section in sections:
        out += render_section(section)
    return "\n".join(out).rstrip() + "\n"


# --- inputs ---------------------------------------------------------------------------------


def write_tiny_safetensors(path: Path, index: int) -> None:
    """A valid safetensors file of one float32 scalar; ``index`` in its metadata makes each
    file's digest its own, as a real model's shards are."""
    header = json.dumps(
        {
            "__metadata__": {"i": str(index)},
            "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
        },
        separators=(",", ":"),
    ).encode()
    header += b" " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header + struct.pack("<f", float(index)))


def sha256_of(path: Path, memo: Path) -> str:
    """The file's digest, remembered beside the inputs while the file is unchanged."""
    known: dict[str, Any] = {}
    if memo.exists():
        try:
            known = json.loads(memo.read_text())
        except ValueError:
            known = {}
    st = path.stat()
    key = f"{path.name}:{st.st_size}:{st.st_mtime_ns}"
    if key not in known:
        with path.open("rb") as handle:
            known[key] = hashlib.file_digest(handle, "sha256").hexdigest()
        memo.write_text(json.dumps(known, sort_keys=True))
    return str(known[key])


def link_or_copy(source: Path, target: Path) -> None:
    """The project's model file is the generated input itself (a hard link): no 2 GiB copy."""
    if target.exists():
        if target.stat().st_ino == source.stat().st_ino:
            return
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def project(directory: Path, manifest: str, *, test_file: str | None = None) -> Path:
    """A pytest project: an empty ``pytest.ini`` anchors the rootdir there (not in this
    repository, whose pyproject.toml would point pytest at the project's own tests)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pytest.ini").write_text("[pytest]\n")
    if manifest:
        (directory / "mlsupply.yaml").write_text(manifest)
    if test_file is not None:
        (directory / "test_ok.py").write_text(test_file)
    return directory


MANIFEST_HEAD = """version: 1
project: {name: speed-benchmark, version: 0.0.0}
# Findings do not matter here, only time: the deep scan runs on the pickle, nothing fails.
policy: {fail_on: critical, pickle_formats: scan}
"""


def big_project(data_dir: Path, size_mb: int) -> tuple[Path, list[Path]]:
    """(a), (b): one model holding the torch checkpoint and the safetensors file, pinned."""
    log(f"building the {size_mb} MiB inputs in {data_dir}")
    torch = build_torch_zip(data_dir / f"checkpoint-{size_mb}m.pt", size_mb * MIB).path
    tensors = build_safetensors(data_dir / f"model-{size_mb}m.safetensors", size_mb * MIB).path
    root = data_dir / f"speed-gate-{size_mb}m"
    model = root / "model"
    model.mkdir(parents=True, exist_ok=True)
    link_or_copy(torch, model / "checkpoint.pt")
    link_or_copy(tensors, model / "model.safetensors")
    memo = data_dir / "speed-digests.json"
    pins = "\n".join(
        f'      {name}: "sha256:{sha256_of(source, memo)}"'
        for name, source in (("checkpoint.pt", torch), ("model.safetensors", tensors))
    )
    manifest = MANIFEST_HEAD + f"models:\n  - name: big\n    path: model\n    files:\n{pins}\n"
    project(root, manifest, test_file="def test_ok() -> None:\n    assert True\n")
    return root, [model / "checkpoint.pt", model / "model.safetensors"]


#: (d): a conftest.py in both of its projects; with $MLSUPPLY_BENCH_CLOCK set it appends how
#: long the session's end took, from the first ``pytest_sessionfinish`` (the plugin's is
#: ``trylast``: the matrix, the BOM and their writes) to the terminal summary. Four hook calls,
#: the same in the gate and the baseline.
SESSION_CLOCK = """import os
import time

import pytest

_STARTED = []


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    _STARTED.append(time.perf_counter())


def pytest_terminal_summary(terminalreporter):
    out = os.environ.get("MLSUPPLY_BENCH_CLOCK")
    if out and _STARTED:
        with open(out, "a") as handle:
            handle.write(f"{time.perf_counter() - _STARTED[0]}\\n")
"""


def tiny_files_project(directory: Path, files: int) -> Path:
    model = directory / "model"
    if model.exists() and len(list(model.iterdir())) != files:
        shutil.rmtree(model)
    model.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        path = model / f"shard-{index:05d}.safetensors"
        if not path.exists():
            write_tiny_safetensors(path, index)
    root = project(directory, MANIFEST_HEAD + "models:\n  - name: many\n    path: model\n")
    (root / "conftest.py").write_text(SESSION_CLOCK)
    return root


def clocked(path: Path) -> Callable[[], None]:
    """Empties the session clock's file before a run, so that it holds that run's figure."""
    return lambda: path.unlink(missing_ok=True)


def clock_reading(path: Path) -> float:
    try:
        return float(path.read_text().split()[-1])
    except (OSError, ValueError, IndexError) as exc:
        raise BenchError(f"the session clock wrote no figure to {path}: {exc}") from exc


# --- the targets ----------------------------------------------------------------------------


@dataclass
class Options:
    data_dir: Path
    size_mb: int
    repeat: int
    inert_runs: int
    items: int
    bom_components: int
    scan_tensors: int
    warmup: bool
    timeout: float
    baseline_python: str | None


#: The interpreter of every measured command (``--python``, ``--gate-venv``): by default this one.
PYTHON = [sys.executable]
#: A virtual environment holding only pytest-mlsupply (editable, from this checkout), its
#: runtime dependencies and pytest-xdist: what a user's gate environment has, without the
#: development environment's other pytest plugins (hypothesis, hydra, ...), whose own start-up
#: would be measured in every figure otherwise.
GATE_VENV = HERE / ".data" / "venv-gate"


def pytest_cmd() -> list[str]:
    return [PYTHON[0], "-m", "pytest"]


PARALLEL_DIGEST = """
import hashlib, sys, threading
def digest(path):
    with open(path, "rb") as f:
        hashlib.file_digest(f, "sha256")
threads = [threading.Thread(target=digest, args=(p,)) for p in sys.argv[1:]]
for t in threads: t.start()
for t in threads: t.join()
"""


def target_a(opts: Options) -> Section:
    section = Section(
        "a",
        f"Cold gate over a {opts.size_mb} MiB torch checkpoint and a {opts.size_mb} MiB "
        "safetensors file",
        [
            "`python -m pytest --mlsupply -p no:cacheprovider -q` on a generated project (one "
            "model holding both files, sha256 pins, the pickle deep-scanned); no cache provider, "
            "so nothing from an earlier run is reused. Baseline: one thread of "
            '`hashlib.file_digest(f, "sha256")` over both files, in its own interpreter. Both '
            "with the files in the page cache (the warm-up run reads them).",
        ],
        "file_digest",
    )
    root, files = big_project(opts.data_dir, opts.size_mb)
    digest = (
        "import hashlib, sys\n"
        "for p in sys.argv[1:]:\n"
        "    with open(p, 'rb') as f: hashlib.file_digest(f, 'sha256')\n"
    )
    commands = {
        "gate -n 0": Command(
            [*pytest_cmd(), "--mlsupply", "-p", "no:cacheprovider", "-q"], root, PYTEST_RAN
        ),
        "gate -n 2 --dist loadgroup": Command(
            [
                *pytest_cmd(),
                "--mlsupply",
                "-p",
                "no:cacheprovider",
                "-q",
                "-n",
                "2",
                "--dist",
                "loadgroup",
            ],
            root,
            PYTEST_RAN,
        ),
        "baseline": Command([PYTHON[0], "-c", digest, *map(str, files)], root),
        # References, not targets: the least any tool can take on this machine when it reads
        # the files in parallel (one thread per file), and pytest's own session.
        "parallel": Command([PYTHON[0], "-c", PARALLEL_DIGEST, *map(str, files)], root),
        "pytest": Command(
            [*pytest_cmd(), "-p", "no:mlsupply", "-p", "no:cacheprovider", "-q"], root
        ),
    }
    series = interleaved(commands, opts.repeat, warmup=opts.warmup, timeout=opts.timeout)
    base = series["baseline"]
    ratio = series["gate -n 0"].median / base.median
    section.rows.append(
        Row(
            "gate -n 0",
            series["gate -n 0"],
            base,
            f"{ratio:.2f}x",
            f"≤ {COLD_RATIO_TARGET:.1f}x",
            ratio <= COLD_RATIO_TARGET,
        )
    )
    # Not the target's run: xdist's gain is the scan's, measured on a scan-bound model below.
    ratio = series["gate -n 2 --dist loadgroup"].median / base.median
    section.rows.append(
        Row(
            "gate -n 2 --dist loadgroup (reference: see the notes)",
            series["gate -n 2 --dist loadgroup"],
            base,
            f"{ratio:.2f}x",
            "-",
            None,
        )
    )
    for label, what in (
        ("parallel", "`hashlib.file_digest` in one thread per file, at once (reference)"),
        ("pytest", "`pytest -p no:mlsupply` on the same project: the session alone (reference)"),
    ):
        ratio = series[label].median / base.median
        section.rows.append(Row(what, series[label], base, f"{ratio:.2f}x", "-", None))
    speedup = series["gate -n 0"].median / series["gate -n 2 --dist loadgroup"].median
    section.notes.append(f"`-n 2 --dist loadgroup` runs {speedup:.2f}x as fast as `-n 0`.")
    floor = series["pytest"].median + series["parallel"].median
    section.notes.append(
        "What a gate costs on this machine if it adds nothing but the parallel digest to "
        f"pytest's own session: {fmt_time(floor)} "
        f"({floor / base.median:.2f}x the baseline)."
    )
    section.notes.append(
        f"On {os.cpu_count()} cores `-n 0` already hashes both files at once (the parallel "
        "digest above), so xdist has no idle core to add here and pays for starting its "
        "workers: it is the scan, which holds the GIL, that a second process speeds up. The "
        "scan-bound rows measure that case."
    )
    scan_bound(opts, section)
    return section


def scan_bound(opts: Options, section: Section) -> None:
    """(a), second half: ``-n 2 --dist loadgroup`` against ``-n 0`` on a model of
    :data:`SCAN_SHARDS` checkpoints whose pickles hold ``opts.scan_tensors`` tensors each."""
    root = opts.data_dir / f"speed-scan-{SCAN_SHARDS}x{opts.scan_tensors}"
    model = root / "model"
    model.mkdir(parents=True, exist_ok=True)
    memo = opts.data_dir / "speed-digests.json"
    pins = []
    for shard in range(SCAN_SHARDS):
        source = build_torch_zip(
            opts.data_dir / f"scan-shard{shard}-{opts.scan_tensors}.pt",
            opts.scan_tensors * 16,
            storages=opts.scan_tensors,
            prefix=f"shard{shard}",
        ).path
        link_or_copy(source, model / f"shard{shard}.pt")
        pins.append(f'      shard{shard}.pt: "sha256:{sha256_of(source, memo)}"')
    manifest = MANIFEST_HEAD + (
        "models:\n  - name: sharded\n    path: model\n    files:\n" + "\n".join(pins) + "\n"
    )
    project(root, manifest)
    gate = [*pytest_cmd(), "--mlsupply", "-p", "no:cacheprovider", "-q"]
    commands = {
        "n0": Command(gate, root, PYTEST_RAN),
        "n2": Command([*gate, "-n", "2", "--dist", "loadgroup"], root, PYTEST_RAN),
    }
    series = interleaved(commands, opts.repeat, warmup=opts.warmup, timeout=opts.timeout)
    speedup = series["n0"].median / series["n2"].median
    section.rows.append(
        Row(
            f"scan-bound model, gate -n 0 ({SCAN_SHARDS} checkpoints of "
            f"{opts.scan_tensors:,} tensors, reference)",
            series["n0"],
            None,
            "-",
            "-",
            None,
        )
    )
    section.rows.append(
        Row(
            "scan-bound model, gate -n 2 --dist loadgroup (figure: speed-up over -n 0)",
            series["n2"],
            None,
            f"{speedup:.2f}x faster",
            f"≥ {XDIST_SPEEDUP_TARGET:.1f}x (close to 2x)",
            speedup >= XDIST_SPEEDUP_TARGET,
            headline=True,
        )
    )


def target_b(opts: Options) -> Section:
    section = Section(
        "b",
        "Warm re-run of the same gate",
        [
            "The project of (a) run with the cache provider on: one run fills `.pytest_cache/` "
            "(its content cache, when the plugin has one), then each measured run is a re-run "
            "with nothing changed. Baseline: `python -m pytest -p no:mlsupply -q` on the same "
            "directory, which runs the same `test_ok.py`. The figure is the difference.",
        ],
        "-p no:mlsupply",
    )
    root, _ = big_project(opts.data_dir, opts.size_mb)
    shutil.rmtree(root / ".pytest_cache", ignore_errors=True)
    gate = Command([*pytest_cmd(), "--mlsupply", "-q"], root, PYTEST_RAN)
    wait_until_cacheable(root / "model")
    run_once(gate, opts.timeout)  # fills the cache
    commands = {
        "warm gate": gate,
        "baseline": Command([*pytest_cmd(), "-p", "no:mlsupply", "-q"], root),
    }
    series = interleaved(commands, opts.repeat, warmup=opts.warmup, timeout=opts.timeout)
    extra = series["warm gate"].median - series["baseline"].median
    section.rows.append(
        Row(
            "warm gate",
            series["warm gate"],
            series["baseline"],
            f"+{fmt_time(extra)}",
            f"< +{fmt_time(WARM_OVERHEAD_TARGET)}",
            extra < WARM_OVERHEAD_TARGET,
        )
    )
    return section


def target_c(opts: Options) -> Section:
    section = Section(
        "c",
        "Plugin installed but off",
        [
            "`python -m pytest -q tests_small/` (20 trivial tests) with the plugin installed and "
            "`--mlsupply` not given, against the same command with `-p no:mlsupply`, which does "
            f"not even import it; {opts.inert_runs} runs each, interleaved. The figure is the "
            "difference of the medians.",
        ],
        "-p no:mlsupply",
    )
    root = project(opts.data_dir / "speed-inert", "")
    small = root / "tests_small"
    small.mkdir(exist_ok=True)
    (small / "test_small.py").write_text(
        "import pytest\n\n\n@pytest.mark.parametrize('i', range(20))\n"
        "def test_small(i: int) -> None:\n    assert i >= 0\n"
    )
    commands = {
        "plugin off": Command([*pytest_cmd(), "-q", "tests_small"], root),
        "baseline": Command([*pytest_cmd(), "-q", "-p", "no:mlsupply", "tests_small"], root),
    }
    series = interleaved(commands, opts.inert_runs, warmup=opts.warmup, timeout=opts.timeout)
    extra = series["plugin off"].median - series["baseline"].median
    section.rows.append(
        Row(
            "plugin off",
            series["plugin off"],
            series["baseline"],
            f"{'+' if extra >= 0 else '-'}{fmt_time(abs(extra))}",
            f"< +{fmt_time(INERT_OVERHEAD_TARGET)}",
            extra < INERT_OVERHEAD_TARGET,
        )
    )
    return section


def target_d(opts: Options) -> Section:
    files = max(1, opts.items // CHECKS_PER_TINY_FILE)
    section = Section(
        "d",
        f"About {opts.items:,} items",
        [
            f"A generated project whose model holds {files:,} tiny safetensors files; each is "
            "planned as sha256, format and scan items, run by "
            "`python -m pytest --mlsupply -p no:cacheprovider -q` (the checks' own work on "
            "the files and the BOM written at the end included, so the figure is an upper bound "
            "on the plugin's overhead). Baseline: as many trivial parametrized tests, "
            "`python -m pytest -p no:mlsupply -p no:cacheprovider -q`. The figure is the "
            "difference of the medians divided by the number of items. The warm row is the "
            "same gate with the cache provider on, after one run filled the content cache, "
            "against the baseline with the cache provider on too.",
        ],
        "trivial tests",
    )
    gate_root = tiny_files_project(opts.data_dir / f"speed-items-{files}", files)
    shutil.rmtree(gate_root / ".pytest_cache", ignore_errors=True)
    clocks = opts.data_dir / f"speed-items-{files}-clocks"
    clocks.mkdir(exist_ok=True)

    def command(args: list[str], root: Path, clock: str, ok: tuple[int, ...]) -> Command:
        path = clocks / f"{clock}.txt"
        return Command(
            [*pytest_cmd(), *args, "-q"],
            root,
            ok,
            env={"MLSUPPLY_BENCH_CLOCK": str(path)},
            before=clocked(path),
        )

    gate = command(["--mlsupply", "-p", "no:cacheprovider"], gate_root, "gate", PYTEST_RAN)
    _, first = run_once(gate, opts.timeout)  # counts the items; also the gate's warm-up
    items = item_count(first.stdout)
    if items == 0:
        raise BenchError(f"the gate ran no items: {first.stdout.strip()[-300:]}")
    base_root = project(opts.data_dir / f"speed-items-baseline-{items}", "")
    (base_root / "test_many.py").write_text(
        "import pytest\n\n\n"
        f"@pytest.mark.parametrize('i', range({items}))\n"
        "def test_item(i: int) -> None:\n    assert i >= 0\n"
    )
    (base_root / "conftest.py").write_text(SESSION_CLOCK)
    shutil.rmtree(base_root / ".pytest_cache", ignore_errors=True)
    base = command(["-p", "no:mlsupply", "-p", "no:cacheprovider"], base_root, "baseline", (0,))
    warm = command(["--mlsupply"], gate_root, "warm", PYTEST_RAN)
    wait_until_cacheable(gate_root / "model")
    run_once(warm, opts.timeout)  # fills the content cache (and is the warm gate's warm-up)
    warm_base = command(["-p", "no:mlsupply"], base_root, "warm-baseline", (0,))
    if opts.warmup:
        run_once(base, opts.timeout)  # the gates' warm-ups were the runs above
        run_once(warm_base, opts.timeout)
    ends: dict[str, list[float]] = {"gate": [], "baseline": [], "warm": []}
    series = {label: Series(label) for label in ("gate", "baseline", "warm", "warm-baseline")}
    commands = {"gate": gate, "baseline": base, "warm": warm, "warm-baseline": warm_base}
    for _ in range(opts.repeat):
        for label, cmd in commands.items():
            series[label].times.append(run_once(cmd, opts.timeout)[0])
            if label in ends:
                ends[label].append(clock_reading(clocks / f"{label}.txt"))
    per_item = (series["gate"].median - series["baseline"].median) / items
    section.rows.append(
        Row(
            f"gate, {items:,} items",
            series["gate"],
            series["baseline"],
            f"{fmt_time(per_item)} per item",
            f"< {fmt_time(ITEM_OVERHEAD_TARGET)} per item",
            per_item < ITEM_OVERHEAD_TARGET,
        )
    )
    warm_per_item = (series["warm"].median - series["warm-baseline"].median) / items
    section.rows.append(
        Row(
            f"warm gate, {items:,} items (content cache filled; baseline with the cache "
            "provider on too)",
            series["warm"],
            series["warm-baseline"],
            f"{fmt_time(warm_per_item)} per item",
            f"< {fmt_time(ITEM_OVERHEAD_TARGET)} per item",
            warm_per_item < ITEM_OVERHEAD_TARGET,
        )
    )
    end, base_end = statistics.median(ends["gate"]), statistics.median(ends["baseline"])
    section.notes.append(
        f"Session end (from `pytest_sessionfinish` to the terminal summary: the matrix, the BOM "
        f"and their writes), medians: gate {fmt_time(end)} ({fmt_time(end / items)} per item), "
        f"warm gate {fmt_time(statistics.median(ends['warm']))}, baseline {fmt_time(base_end)}."
    )
    return section


def target_e(opts: Options) -> Section:
    n = opts.bom_components
    section = Section(
        "e",
        f"BOM build and validation for {n:,} components",
        [
            f"`pytest_mlsupply.reports.bom.build_bom` (assembly, CycloneDX serialisation and "
            f"schema validation, whichever validator the package uses) for a model of {n:,} "
            "files, after the manifest was loaded and every item run (untimed), in a fresh "
            "interpreter each time: the first call pays for building the validator, as a "
            "pytest session does. Also the median of three further calls in the same process "
            "(validator cached). Baseline: `json.dumps` of the same document.",
            "The JSON and XML rows are what the plugin does when an XML BOM is asked for too "
            "(`--mlsupply-bom-xml`): one `assemble_bom`, then `bom_json` and `bom_xml` (the XML "
            "form validated against the XSD), in a fresh interpreter of its own, so its first "
            "call builds both validators.",
        ],
        "json.dumps",
    )
    root = tiny_files_project(opts.data_dir / f"speed-bom-{n}", n)
    first, again, dumps = Series("first"), Series("again"), Series("json.dumps")
    both_first, both_again = Series("first, JSON and XML"), Series("again, JSON and XML")
    components = 0
    runs = opts.repeat + (1 if opts.warmup else 0)
    for index in range(runs):
        # The two workers alternate, so a burst of load from another job hits both.
        for forms, first_series, again_series in (
            ("json", first, again),
            ("json,xml", both_first, both_again),
        ):
            argv = [PYTHON[0], str(Path(__file__).resolve()), "--bom-worker", str(root)]
            _, proc = run_once(Command([*argv, "--bom-forms", forms], root), opts.timeout)
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            if opts.warmup and index == 0:
                continue
            first_series.times.append(result["first"])
            again_series.times.extend(result["again"])
            if forms == "json":
                dumps.times.append(result["dumps"])
                components = result["components"]
    for label, series in (
        ("first call (validator built)", first),
        ("later calls (validator cached)", again),
        ("JSON and XML, first call (validators built)", both_first),
        ("JSON and XML, later calls (validators cached)", both_again),
    ):
        section.rows.append(
            Row(
                label,
                series,
                dumps,
                f"{series.median / dumps.median:.0f}x json.dumps",
                f"< {fmt_time(BOM_TARGET)}",
                series.median < BOM_TARGET,
            )
        )
    section.notes.append(f"The document holds {components:,} components (nested ones counted).")
    return section


def bom_worker(root: Path, forms: str = "json") -> int:
    """(e) in a fresh interpreter: load, plan and run the project untimed, then time the BOM.

    ``forms`` is ``json`` (``build_bom``) or ``json,xml`` (one assembly, both forms).
    """
    from pytest_mlsupply.checks.base import CheckContext
    from pytest_mlsupply.checks.content import ContentCache
    from pytest_mlsupply.checks.runner import run_item
    from pytest_mlsupply.manifest.loader import load_manifest
    from pytest_mlsupply.plan import build_plan
    from pytest_mlsupply.reports.bom import assemble_bom, bom_json, bom_xml, build_bom
    from pytest_mlsupply.sources.resolve import build_inventory

    manifest = load_manifest(root / "mlsupply.yaml")
    inventory = build_inventory(manifest)
    plan = build_plan(inventory)
    context = CheckContext(policy=manifest.policy, inventory=inventory, contents=ContentCache())
    results = [result for item in plan for result in run_item(item, context)]
    threshold = manifest.policy.fail_on

    def once() -> tuple[float, dict[str, Any]]:
        start = time.perf_counter()
        if forms == "json":
            document = build_bom(inventory, plan, results, threshold, contents=context.contents)
        else:
            assembled = assemble_bom(inventory, plan, results, threshold, contents=context.contents)
            document = bom_json(assembled)
            bom_xml(assembled)
        return time.perf_counter() - start, document

    first, document = once()
    again = [once()[0] for _ in range(3)]
    start = time.perf_counter()
    json.dumps(document)
    dumps = time.perf_counter() - start

    def count(nodes: Sequence[dict[str, Any]]) -> int:
        return sum(1 + count(node.get("components", [])) for node in nodes)

    components = count(document.get("components", []))
    print(json.dumps({"first": first, "again": again, "dumps": dumps, "components": components}))
    return 0


@dataclass(frozen=True)
class Tool:
    name: str
    argv: list[str]
    ok: tuple[int, ...]
    env: dict[str, str] = field(default_factory=dict)


def find_cli(name: str, explicit_python: str | None) -> str | None:
    """A baseline tool's command: beside the given interpreter, in the baselines' venv, or on
    the PATH."""
    places = [Path(explicit_python).parent] if explicit_python else []
    places.append(BASELINE_VENV / "bin")
    for place in places:
        if (place / name).exists():
            return str(place / name)
    return shutil.which(name)


def tool_version(cli: str, package: str) -> str:
    python = Path(cli).parent / "python"
    if not python.exists():
        return "?"
    probe = subprocess.run(
        [str(python), "-c", f"from importlib.metadata import version; print(version({package!r}))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return probe.stdout.strip() or "?"


def target_f(opts: Options, versions_out: dict[str, str]) -> Section:
    section = Section(
        "f",
        f"Side by side on the same {opts.size_mb} MiB torch checkpoint",
        [
            "Each tool's command line on the hand-built torch checkpoint of (a), timed end to end "
            "(interpreter start-up and imports included, as a user pays them), page cache warm. "
            "`mlsupply scan --quiet --no-cache --pickle-formats scan` deep-scans the pickle (its content cache off, so every run scans); `modelscan -p`; "
            "`modelaudit scan --no-cache` (its result cache off, so every run scans; telemetry "
            "off). ModelAudit and modelscan run from `benchmarks/.data/venv-baselines` "
            "(`python benchmarks/run.py --install-baselines`), never from the project's "
            "environment. The figure is each tool's median over `mlsupply scan`'s.",
        ],
        "mlsupply scan",
    )
    torch = build_torch_zip(
        opts.data_dir / f"checkpoint-{opts.size_mb}m.pt", opts.size_mb * MIB
    ).path
    tools = [
        Tool(
            "mlsupply scan",
            [
                PYTHON[0],
                "-m",
                "pytest_mlsupply.cli",
                "scan",
                "--quiet",
                "--no-cache",  # every run scans, as ModelAudit's --no-cache
                "--pickle-formats",
                "scan",
                str(torch),
            ],
            (0, 1),
        )
    ]
    missing: list[str] = []
    modelaudit = find_cli("modelaudit", opts.baseline_python)
    if modelaudit is None:
        missing.append("ModelAudit")
    else:
        versions_out["modelaudit"] = tool_version(modelaudit, "modelaudit")
        tools.append(
            Tool(
                "ModelAudit",
                [modelaudit, "scan", "--no-cache", "--format", "json", str(torch)],
                (0, 1),
                {"NO_ANALYTICS": "1", "PROMPTFOO_DISABLE_TELEMETRY": "1"},
            )
        )
    modelscan = find_cli("modelscan", opts.baseline_python)
    if modelscan is None:
        missing.append("modelscan")
    else:
        versions_out["modelscan"] = tool_version(modelscan, "modelscan")
        tools.append(Tool("modelscan", [modelscan, "-p", str(torch)], (0, 1)))
    for name in missing:
        section.notes.append(
            f"{name} was not found (not in benchmarks/.data/venv-baselines, not on the PATH): "
            "run `python benchmarks/run.py --install-baselines` once; not measured."
        )
    series: dict[str, Series] = {}
    for tool in tools:
        command = Command(tool.argv, opts.data_dir, tool.ok, tool.env)
        try:
            _, proc = run_once(command, opts.timeout)  # warm-up, and its verdict
            measured = interleaved(
                {tool.name: command}, opts.repeat, warmup=False, timeout=opts.timeout
            )
        except (BenchError, subprocess.TimeoutExpired) as exc:
            section.notes.append(f"{tool.name} could not scan the checkpoint: {exc}")
            continue
        series[tool.name] = measured[tool.name]
        section.notes.append(f"{tool.name} exit status {proc.returncode}: {_gist(proc.stdout)}")
    ours = series.get("mlsupply scan")
    for name, measured in series.items():
        figure = f"{measured.median / ours.median:.2f}x" if ours else "-"
        section.rows.append(Row(name, measured, ours, figure, "(comparison)", None))
    return section


def _gist(stdout: str) -> str:
    """One line of a tool's report, for the record: its last non-empty line, shortened."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines:
        return "(no output)"
    text = lines[-1] if not lines[-1].startswith(("}", "]")) else "(JSON report)"
    return "`" + (text if len(text) < 120 else text[:117] + "...").replace("`", "'") + "`"


#: In docs/performance.md, what follows this line is other benchmarks' figures (the HTML
#: report's, by benchmarks/html_render.py): a run of this script keeps it as it is.
OTHER_BENCHMARKS = "<!-- other benchmarks: kept by benchmarks/speed.py -->"


def kept_tail(path: Path) -> str:
    """The part of ``path`` from :data:`OTHER_BENCHMARKS` on (with a blank line before it), or
    nothing when the file or the marker is missing."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    at = text.find(OTHER_BENCHMARKS)
    return "" if at < 0 else "\n" + text[at:]


# --- main -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny inputs (4 MiB, 60 items, 30 BOM components), 1 run per series, no warm-up, "
        "docs/performance.md not written",
    )
    parser.add_argument("--size-mb", type=int, help="size of each large file in MiB (default 1024)")
    parser.add_argument("--repeat", type=int, help="measured runs per series (default 5)")
    parser.add_argument("--items", type=int, help=f"items for (d) (default {DEFAULT_ITEMS})")
    parser.add_argument(
        "--data-dir", type=Path, default=HERE / ".data", help="where inputs are generated and kept"
    )
    parser.add_argument(
        "--only", default=TARGETS, help="targets to measure, e.g. a,c (default all)"
    )
    parser.add_argument(
        "--results",
        type=Path,
        help="write the Markdown here (default: docs/performance.md on a full run)",
    )
    parser.add_argument(
        "--baseline-python", help="an interpreter whose bin/ has modelaudit and modelscan"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one command may take")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--python", help="the interpreter of the measured commands (default: this one)"
    )
    where.add_argument(
        "--gate-venv",
        action="store_true",
        help=f"measure in {GATE_VENV.relative_to(ROOT)} (created on first use: this checkout "
        "editable, its runtime dependencies and pytest-xdist, nothing else)",
    )
    parser.add_argument("--bom-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bom-forms", default="json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bom_worker is not None:
        return bom_worker(args.bom_worker, args.bom_forms)

    only = [key for key in args.only.replace(",", "") if key in TARGETS]
    unknown = set(args.only.replace(",", "")) - set(TARGETS)
    if unknown or not only:
        parser.error(
            f"--only {args.only}: name targets among {', '.join(TARGETS)}, e.g. --only a,c"
        )
    repeat = args.repeat or (1 if args.quick else 5)
    opts = Options(
        data_dir=args.data_dir.resolve(),
        size_mb=args.size_mb or (4 if args.quick else 1024),
        repeat=repeat,
        inert_runs=repeat if args.quick else max(30, 6 * repeat),
        items=args.items or (60 if args.quick else DEFAULT_ITEMS),
        bom_components=30 if args.quick else BOM_COMPONENTS,
        scan_tensors=200 if args.quick else SCAN_TENSORS,
        warmup=not args.quick,
        timeout=args.timeout,
        baseline_python=args.baseline_python,
    )
    opts.data_dir.mkdir(parents=True, exist_ok=True)
    if args.gate_venv:
        PYTHON[0] = gate_venv()
    elif args.python:
        PYTHON[0] = args.python
    results_path = args.results or (None if args.quick else DOC)
    command = (
        "python benchmarks/speed.py"
        + (" " + shlex.join(argv if argv is not None else sys.argv[1:])).rstrip()
    )
    info = machine()
    tool_versions: dict[str, str] = {}
    measure: dict[str, Callable[[], Section]] = {
        "a": lambda: target_a(opts),
        "b": lambda: target_b(opts),
        "c": lambda: target_c(opts),
        "d": lambda: target_d(opts),
        "e": lambda: target_e(opts),
        "f": lambda: target_f(opts, tool_versions),
    }
    sections: list[Section] = []
    for key in only:
        log(f"measuring ({key})")
        try:
            sections.append(measure[key]())
        except (BenchError, subprocess.TimeoutExpired) as exc:
            sections.append(Section(key, f"target {key}", [], failure=str(exc)))
            log(f"  ({key}) failed: {exc}")
        report = render(
            sections,
            command=command,
            info_before=info,
            load_after=", ".join(f"{x:.2f}" for x in os.getloadavg()),
            tool_versions=tool_versions,
            size_mb=opts.size_mb,
            repeat=repeat,
        )
        if results_path is not None:
            # After each target, not only at the end: a long run stopped half-way still leaves
            # the figures it measured (atomically replaced, never a half-written file).
            from pytest_mlsupply.reports.atomic import write_atomic

            write_atomic(results_path, report + kept_tail(results_path))
    print(report)
    if results_path is not None:
        log(f"wrote {results_path}")
    return 1 if any(s.failure for s in sections) else 0


if __name__ == "__main__":
    raise SystemExit(main())
