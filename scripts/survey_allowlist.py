"""Survey the globals real ML libraries write into their pickles, as our pickle engine reads them.

Builds the benign ecosystem corpus (``tests/ecosystem``: every scikit-learn estimator, pandas,
numpy, scipy, torch, transformers, tokenizers, datasets, accelerate, Lightning, OmegaConf/hydra,
xgboost, lightgbm, catboost) with the real libraries into a folder, scans each file with the
artifact scanner (never loading it), and prints, per library, every global the files import with
the pickle policy's verdict, then the findings. Rerun it after upgrading a library to see what the
allowlist (``pytest_mlsupply/engines/pickle/allowlist.py``) must judge next::

    PYTHONPATH=$PWD python scripts/survey_allowlist.py [--out DIR] [--only PREFIX] [--json FILE]
    PYTHONPATH=$PWD python scripts/survey_allowlist.py --audit   # re-exports the patterns admit

Globals are collected by the scanner's own pickle engine (``scan_pickle_bytes(...).imports``)
over the members and decompressed streams it visits, so the survey sees exactly what the scan
judges. Libraries missing from the environment are reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_mlsupply.engines.pickle import decide
from pytest_mlsupply.engines.pickle import scan as pickle_scan
from pytest_mlsupply.engines.scanner import scan_file
from tests.ecosystem import Artifact, build_all, sklearn_artifacts, static_artifacts


def _record_imports() -> list[str]:
    """Wrap the pickle engine's entry point so every scan's imports are recorded."""
    seen: list[str] = []
    original = pickle_scan.scan_pickle_bytes

    def recording(*args: object, **kwargs: object) -> pickle_scan.PickleScan:
        result = original(*args, **kwargs)  # type: ignore[arg-type]
        seen.extend(ref.dotted for ref in result.imports)
        for nested in result.nested:
            seen.extend(ref.dotted for ref in nested.scan.imports)
        return result

    for module in list(sys.modules.values()):
        if getattr(module, "scan_pickle_bytes", None) is original:
            module.scan_pickle_bytes = recording  # type: ignore[attr-defined]
    return seen


def audit_reexports() -> dict[str, list[str]]:
    """Class-like names a family's pattern admits that are defined outside the family's library.

    Imports every module under each pattern's prefixes (this is a survey, not a scan) and lists,
    per family, ``module.Name -> where it is defined`` for names imported from elsewhere: a
    module re-exports what it imports, so ``sklearn.callback._transport.Client`` *is*
    ``multiprocessing.connection.Client``. Dangerous ones belong in ``REEXPORTED_DENIED``.
    """
    import importlib
    import pkgutil
    import warnings

    from pytest_mlsupply.engines.pickle import Verdict
    from pytest_mlsupply.engines.pickle.allowlist import FAMILIES

    found: dict[str, list[str]] = defaultdict(list)
    for family_name, family in FAMILIES.items():
        for prefix in family.modules if family.names else ():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    root = importlib.import_module(prefix)
            except Exception as error:  # a library missing here
                found[family_name].append(f"{prefix}: not importable ({error})")
                continue
            modules = [root]
            for info in pkgutil.walk_packages(getattr(root, "__path__", []), prefix + "."):
                if {"tests", "test", "conftest"} & set(info.name.split(".")):
                    continue
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        modules.append(importlib.import_module(info.name))
                except Exception:
                    continue
            library = prefix.split(".")[0]
            for module in modules:
                for name, value in list(vars(module).items()):
                    if decide(module.__name__, name).verdict is not Verdict.SAFE:
                        continue
                    if not family.pattern_matches(module.__name__, name):
                        continue
                    defined = getattr(value, "__module__", None)
                    if isinstance(defined, str) and not defined.startswith(library):
                        found[family_name].append(f"{module.__name__}.{name} -> {defined}")
    return dict(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for the artifacts (default: temporary)")
    parser.add_argument("--only", default="", help="only artifacts whose name starts with this")
    parser.add_argument("--json", type=Path, help="write the survey as JSON here")
    parser.add_argument("--no-sklearn", action="store_true", help="skip the estimator sweep")
    parser.add_argument(
        "--audit", action="store_true", help="list names patterns admit that are re-exports"
    )
    args = parser.parse_args()
    if args.audit:
        for family_name, lines in sorted(audit_reexports().items()):
            print(f"== {family_name}: {len(lines)} re-exported names the pattern admits")
            for line in sorted(set(lines)):
                print(f"  {line}")
        return 0
    seen = _record_imports()
    artifacts: list[Artifact] = static_artifacts()
    if not args.no_sklearn:
        try:
            artifacts += sklearn_artifacts()
        except ImportError as error:
            print(f"scikit-learn sweep skipped: {error}")
    artifacts = [a for a in artifacts if a.name.startswith(args.only)]
    folder = args.out or Path(tempfile.mkdtemp(prefix="mlsupply-survey-"))
    by_library: dict[str, dict[str, str]] = defaultdict(dict)
    problems: dict[str, list[str]] = {}
    for artifact, built in build_all(folder, artifacts):
        library = artifact.name.split("-")[0]
        if isinstance(built, str):
            problems[artifact.name] = [f"not built: {built}"]
            continue
        del seen[:]
        report = scan_file(built, artifact.name)
        for dotted in seen:
            module, _, name = dotted.rpartition(".")
            decision = decide(module, name) if module else None
            verdict = decision.verdict.name if decision else "?"
            by_library[library][dotted] = verdict
        lines = [f"{f.severity.name} {f.rule} {f.title}" for f in report.findings]
        lines += [f"ERROR {e}" for e in report.errors]
        if lines:
            problems[artifact.name] = lines
    for library, globals_ in sorted(by_library.items()):
        print(f"\n== {library}: {len(globals_)} globals")
        for dotted, verdict in sorted(globals_.items()):
            print(f"  {verdict:10} {dotted}")
    print(f"\n== {len(artifacts)} artifacts in {folder}; {len(problems)} with findings or errors")
    for name, lines in sorted(problems.items()):
        print(f"  {name}")
        for line in lines:
            print(f"      {line}")
    if args.json:
        args.json.write_text(json.dumps({"globals": by_library, "problems": problems}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
