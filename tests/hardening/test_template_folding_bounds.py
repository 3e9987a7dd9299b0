"""Chat templates fold the names they build (``{% set %}`` chains) in bounded time and memory.

The template analyser runs inside the scan of a tokenizer config; a few hundred bytes of
template must not keep it busy for minutes (no budget checkpoint reached it) or make it build
gigabytes of string.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from pytest_mlsupply.engines.budget import ScanLimits
from pytest_mlsupply.engines.scanner import ScanPolicy, scan_file
from pytest_mlsupply.engines.templates import analyse_template


def doubling_chain(length: int) -> str:
    """``a1 = a0 if c else a0``, ``a2 = a1 if c else a1``...: each step names the last twice."""
    steps = "".join(f"{{% set a{i} = a{i - 1} if c else a{i - 1} %}}" for i in range(1, length + 1))
    return "{% set a0 = '__class__' %}" + steps + f"{{{{ x[a{length}] }}}}"


#: Under a hundred bytes: 'A' repeated 64^5 times (a gigabyte) if each repeat were built.
REPEATED_REPEATS = (
    "{% set a = 'A'*64 %}{% set b = a*64 %}{% set c = b*64 %}{% set d = c*64 %}"
    "{% set e = d*64 %}{{ x[e] }}"
)


def test_a_chain_of_forty_set_variables_each_naming_the_last_twice_folds_at_once() -> None:
    started = time.monotonic()
    issues = analyse_template(doubling_chain(40))  # 2^40 folds if each name is folded anew
    assert time.monotonic() - started < 5
    assert any("__class__" in issue.evidence for issue in issues)  # still folded to the end


def test_a_string_repeated_by_repeats_is_never_built_past_the_fold_limit() -> None:
    tracemalloc.start()
    try:
        analyse_template(REPEATED_REPEATS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20  # was a 1 GiB string


def test_a_tokenizer_config_with_a_doubling_chat_template_scans_in_seconds(
    tmp_path: Path,
) -> None:
    config = tmp_path / "tokenizer_config.json"
    config.write_text(json.dumps({"chat_template": doubling_chain(40)}))
    # In a child process: before the fix this scan ran for days, under any policy.limits.
    code = (
        "import sys; from pathlib import Path\n"
        "from tests.hardening.test_template_folding_bounds import scan_rules\n"
        "print(sorted(scan_rules(Path(sys.argv[1]))))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", code, str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    assert "MLS-TPL" in done.stdout


def scan_rules(path: Path) -> set[str]:
    report = scan_file(path, path.name, ScanPolicy(limits=ScanLimits(scan_seconds=5)))
    return {finding.rule for finding in report.findings}
