"""Provenance claim ``dataset``: what a declared dataset is, where it is, and whether it is that.

One item per declared dataset (``provenance[<dataset>::dataset]``). The claim checks, in order:

- the dataset can be found: a local ``path:`` directory, or the pinned Hub commit's snapshot
  (resolved like a hub model's, from the local cache when offline); if not, the item errors;
- a licence is stated (the manifest's ``license:``, else the card's) and the vendored licence
  table knows it. Whether the policy accepts it is the ``license`` claim's verdict on the models
  trained on it, not repeated here;
- ``pii:`` classifies the personal data it holds: a dataset without it always fails (there is no
  safe default for "we did not say");
- ``files:`` pins: each pinned file is hashed and compared, a pinned file that is missing fails,
  and a local dataset's files that no pin covers are reported (failing when other files are
  pinned: an added file). A Hub dataset's commit pins its files only while the cache holds its
  bytes: each unpinned file must link to its repository's blob, the one the commit lists, whose
  bytes hash to its name; code or pickles the commit lists but were never fetched fail;
- files a loader may execute (pickles, archives, scripts, a ``.py`` loading script) are
  content-scanned as artifacts are, pinned or not;
- the dataset card (``README.md`` in the dataset directory, read with the one card reader,
  :mod:`pytest_mlsupply.engines.model_card`): its ``configs:`` must not load data from outside
  the files hashed (remote, absolute, ``..``, ``.git``/``.cache``); its licence must not
  contradict the manifest's,
  and its ``size_categories`` must hold the number of rows, counted only when every data file
  is CSV/TSV/JSON Lines (what can be measured cheaply and exactly); anything else is not compared.

The facts (each file's sha256, the resolved commit, the counted rows, the card's claims) are
what the BOM's ``data`` component is built from.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any

from pytest_mlsupply import licenses
from pytest_mlsupply.checks.base import CheckContext, DatasetCheck, Outcome
from pytest_mlsupply.checks.provenance_license import card_licence
from pytest_mlsupply.engines.identification import Family
from pytest_mlsupply.engines.model_card import CardError, ModelCard, read_card
from pytest_mlsupply.licenses import LicenceError
from pytest_mlsupply.manifest.model import DatasetDecl
from pytest_mlsupply.results import Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.datasets import ResolvedDataset, resolve_dataset
from pytest_mlsupply.sources.hub import HubFileMeta, blob_address, git_blob_sha1
from pytest_mlsupply.sources.inventory import ArtifactFile
from pytest_mlsupply.sources.local import SKIPPED_DIRS

CARD = "README.md"
#: Files whose rows can be counted exactly by reading them once (one record per line, or CSV).
_COUNTABLE = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: Documents that ship with data (their ``.txt`` suffix does not make them rows), and the
#: repository's own bookkeeping. Every other file may hold rows: one in a format not counted
#: (Parquet, Arrow, JSON, archives, NumPy, pickles, anything unknown) means the rows are not
#: measured, so the card's size category is not compared.
_DOCUMENT = re.compile(
    r"^((LICEN[CS]E|NOTICE|README|CITATION|COPYING)(\.[A-Za-z]+)?|.*\.md|\.gitattributes|\.gitignore)$",
    re.I,
)
#: Past this many bytes of countable files, rows are not counted (the claim stays cheap).
MAX_COUNTED_BYTES = 1 << 30
_SIZE_CATEGORY = re.compile(
    r"^(?:(?P<low>\d+(?:\.\d+)?[KMBT]?)\s*<\s*)?n\s*(?:<\s*(?P<high>\d+(?:\.\d+)?[KMBT]?)"
    r"|>\s*(?P<above>\d+(?:\.\d+)?[KMBT]?))?$",
    re.I,
)
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def run(decl: DatasetDecl, ctx: CheckContext) -> Outcome:
    resolved = resolve_dataset(decl)
    manifest = _manifest_location(decl, ctx)
    if resolved.error is not None or resolved.root is None:
        # What the manifest alone shows wrong still counts: findings outrank the error.
        unfound: dict[str, Any] = {}
        return Outcome(
            findings=[*_licence(decl, None, manifest, unfound), *_pii(decl, manifest)],
            error=resolved.error or f"dataset {decl.name!r} could not be found",
        )
    facts: dict[str, Any] = {
        "source": decl.source.uri if decl.source is not None else str(decl.path),
        "pii": decl.pii,
    }
    if resolved.commit is not None:
        facts["commit"] = resolved.commit
    findings: list[Finding] = []

    card, card_findings = _card(resolved)
    findings += card_findings
    if card is not None:
        facts["card"] = _card_claims(card)
        findings += _card_data_files(decl, card)

    findings += _licence(decl, card, manifest, facts)
    findings += _pii(decl, manifest)
    digests, pin_findings, unreadable = _pins(resolved, manifest, ctx)
    findings += pin_findings
    facts["files"] = digests
    scan_findings, scan_errors = _scan_loadable(resolved, digests, ctx)
    findings += scan_findings
    findings += _unfetched_loadable(resolved)
    unreadable += scan_errors

    # Rows of a partly fetched Hub dataset would undercount it: not measured, not compared;
    # nor are they when a file could not be read.
    rows = count_rows(resolved.files) if resolved.complete and not unreadable else None
    if rows is not None:
        facts["rows"] = rows
    if card is not None:
        findings += _size(decl, card, rows)
    # Under the claim's own name, as every provenance claim records its facts for the BOM.
    # An unreadable file is an error, but the findings about the other files still stand.
    return Outcome(
        findings=findings,
        facts={"dataset": facts},
        error="; ".join(unreadable) if unreadable else None,
    )


# -- licence and classification -------------------------------------------------------------


def _licence(
    decl: DatasetDecl, card: ModelCard | None, manifest: Location, facts: dict[str, Any]
) -> list[Finding]:
    stated = card_licence(card.metadata) if card is not None else None
    declared = decl.license or stated
    facts["license"] = declared
    # `other` / `unknown` alone (a card's `license: other` with no `license_name`) names no
    # licence: as unstated as no `license` at all.
    if declared is None or declared.strip().lower() in licenses.PLACEHOLDERS:
        return [
            Finding(
                rule="MLS-DATA-001",
                severity=Severity.HIGH,
                category="license",
                title="dataset states no licence",
                location=manifest,
                evidence=f"dataset {decl.name!r}: no `license:` in the manifest and no `license` "
                "in its card"
                + (f" (only {declared!r}, which names no licence)" if declared else ""),
                why="a model may only be trained and shipped as its training data's licence "
                "allows; an unstated licence cannot be judged",
                remediation=f"add `license: <SPDX or Hub id>` to dataset {decl.name!r} (e.g. "
                "cc-by-4.0), after checking the dataset's terms",
                cwe="CWE-1357",
            )
        ]
    findings = []
    unknown = _unknown_ids(declared)
    if unknown:
        findings.append(
            Finding(
                rule="MLS-DATA-002",
                severity=Severity.MEDIUM,
                category="license",
                title="dataset licence is not one the licence table knows",
                location=manifest,
                evidence=f"dataset {decl.name!r}: licence {declared!r}: {unknown}",
                why="the restrictions of an unknown licence (non-commercial, no-derivatives) "
                "cannot be derived, so the models trained on it cannot be judged",
                remediation="write the licence as an SPDX or Hub id the table lists "
                "(docs/licenses.md), e.g. cc-by-4.0 or cc-by-nc-4.0",
                cwe="CWE-1357",
            )
        )
    # A card's `other` / `unknown` names no licence: nothing to contradict.
    if (
        decl.license is not None
        and stated is not None
        and stated.lower() not in licenses.PLACEHOLDERS
        and not _same_licence(decl.license, stated)
    ):
        findings.append(
            Finding(
                rule="MLS-DATA-009",
                severity=Severity.HIGH,
                category="license",
                title="dataset card's licence contradicts the manifest",
                location=Location(file=f"{decl.name}/{CARD}", key_path="license"),
                evidence=f"the manifest says license: {decl.license!r}; the dataset card says "
                f"license: {stated!r}",
                why="the manifest's licence is what the models trained on it are judged by; if "
                "the card is right, that judgement is wrong",
                remediation="read the dataset's actual terms and correct whichever side is wrong",
                cwe="CWE-1357",
            )
        )
    return findings


def _unknown_ids(text: str) -> str | None:
    """What is wrong with ``text`` as a licence the table knows, or None when every id is known."""
    if text.strip().lower() in licenses.PLACEHOLDERS:
        return f"{text!r} names no licence"
    try:
        keys = licenses.licensing().license_keys(licenses.parse(text))
    except LicenceError as exc:
        return f"not a licence expression ({exc})"
    unknown = [k for k in keys if k.lower() in licenses.PLACEHOLDERS or licenses.licence(k) is None]
    return f"{', '.join(unknown)} not in the vendored table" if unknown else None


def _same_licence(a: str, b: str) -> bool:
    try:
        return bool(licenses.licensing().is_equivalent(licenses.parse(a), licenses.parse(b)))
    except LicenceError:
        return a.strip().lower() == b.strip().lower()


def _pii(decl: DatasetDecl, manifest: Location) -> list[Finding]:
    if decl.pii is not None:
        return []
    return [
        Finding(
            rule="MLS-DATA-003",
            severity=Severity.HIGH,
            category="privacy",
            title="dataset has no PII classification",
            location=manifest,
            evidence=f"dataset {decl.name!r} declares no `pii:`",
            why="whether training data holds personal data decides who may use the model, "
            "where it may run and what must be disclosed; unclassified data is treated as "
            "unknown, not as clean",
            remediation="add `pii: none|pseudonymised|personal|sensitive` after reviewing the data",
            cwe="CWE-359",
        )
    ]


# -- file pins ------------------------------------------------------------------------------


def _pins(
    resolved: ResolvedDataset, manifest: Location, ctx: CheckContext
) -> tuple[dict[str, str], list[Finding], list[str]]:
    """Each file's digest (through the run's shared content cache, which refuses FIFOs and
    devices), the pin findings, and the files that could not be read (why)."""
    decl = resolved.decl
    findings: list[Finding] = []
    digests: dict[str, str] = {}
    unreadable: list[str] = []
    if not resolved.files:
        findings.append(
            Finding(
                rule="MLS-DATA-011",
                severity=Severity.HIGH,
                category="integrity",
                title="dataset has no files",
                location=Location(file=str(resolved.root)),
                evidence=f"{resolved.root} is empty",
                why="an empty dataset cannot be the data the model was trained on",
                remediation="point the dataset's `path:` or `source:` at its files",
            )
        )
    for file in resolved.files:
        try:
            digests[file.relpath] = ctx.contents.get(file.path).sha256
        except OSError as exc:
            unreadable.append(f"cannot read {decl.name}/{file.relpath}: {exc.strerror or exc}")
            continue
        if file.pinned_sha256 is not None and digests[file.relpath] != file.pinned_sha256.lower():
            findings.append(
                Finding(
                    rule="MLS-DATA-004",
                    severity=Severity.CRITICAL,
                    category="integrity",
                    title="dataset file differs from its pin",
                    location=Location(file=f"{decl.name}/{file.relpath}"),
                    evidence=f"files.{file.relpath}: pinned sha256:{file.pinned_sha256}, the "
                    f"file on disk is sha256:{digests[file.relpath]}",
                    why="the data is not the data that was reviewed: it was changed, replaced "
                    "or poisoned after it was pinned",
                    remediation="restore the pinned file, or review the new data and update "
                    "the pin",
                    cwe="CWE-345",
                )
            )
    present = {f.relpath for f in resolved.files}
    for rel in sorted(set(decl.files) - present):
        findings.append(
            Finding(
                rule="MLS-DATA-005",
                severity=Severity.HIGH,
                category="integrity",
                title="pinned dataset file is missing",
                location=Location(file=f"{decl.name}/{rel}"),
                evidence=f"files.{rel} is pinned, but {resolved.root} has no such file",
                why="a pin for a file that is not there proves nothing about the data in use",
                remediation="restore the file, or remove its pin if it was dropped on purpose",
                cwe="CWE-345",
            )
        )
    if decl.path is None:
        # A Hub commit fixes every file of the snapshot, but only if the cached bytes are the
        # commit's: each unpinned file must be a blob whose content still hashes to its name.
        findings += _unpinned_hub_files(resolved, digests)
        return digests, findings, unreadable
    # A local directory fixes nothing.
    unpinned = [f.relpath for f in resolved.files if f.pinned_sha256 is None]
    unpinned = [rel for rel in unpinned if rel != CARD and rel in digests]
    if unpinned and decl.files:
        # Some files were reviewed and pinned: one nobody pinned was added after the review.
        findings.append(
            Finding(
                rule="MLS-DATA-012",
                severity=Severity.HIGH,
                category="integrity",
                title="file added to a pinned dataset",
                location=manifest,
                evidence=f"dataset {decl.name!r} pins {len(decl.files)} file(s), but "
                f"{resolved.root} also holds {len(unpinned)} unpinned file(s): "
                f"{', '.join(unpinned[:5])}" + (" ..." if len(unpinned) > 5 else ""),
                why="a loader given the directory reads every data file in it: an added file "
                "is data nobody reviewed (injected or poisoned rows) inside a dataset that "
                "looks pinned",
                remediation="remove the file, or review it and pin it: "
                + ", ".join(f'{rel}: "sha256:{digests[rel]}"' for rel in unpinned[:5]),
                cwe="CWE-345",
            )
        )
    elif unpinned:
        paste = ", ".join(f'{rel}: "sha256:{digests[rel]}"' for rel in unpinned[:5])
        more = f" (and {len(unpinned) - 5} more)" if len(unpinned) > 5 else ""
        findings.append(
            Finding(
                rule="MLS-DATA-006",
                severity=Severity.MEDIUM,
                category="integrity",
                title="dataset files are not pinned",
                location=manifest,
                evidence=f"{len(unpinned)} file(s) of {resolved.root} have no `files:` pin: "
                f"{', '.join(unpinned[:5])}{more}",
                why="a local dataset without digests can change between the review and the "
                "training run without anyone noticing",
                remediation=f"pin them under dataset {decl.name!r}: files: {{{paste}}}{more}",
                cwe="CWE-353",
            )
        )
    return digests, findings, unreadable


def _unpinned_hub_files(resolved: ResolvedDataset, digests: dict[str, str]) -> list[Finding]:
    """A Hub snapshot's unpinned files, each checked against the blob name huggingface_hub gave
    it (the sha256 of an LFS file, the git blob sha1 of a regular one): the commit vouches only
    for bytes that still hash to that name, never for a file the cache does not address."""
    decl = resolved.decl
    findings: list[Finding] = []
    assert resolved.root is not None  # resolved, or the claim would not look at its files
    blobs = Path(os.path.realpath(resolved.root)).parent.parent / "blobs"
    for file in resolved.files:
        if file.pinned_sha256 is not None or file.relpath not in digests:
            continue  # compared with its pin (MLS-DATA-004), or unreadable (the item's error)
        where = Location(file=f"{decl.name}/{file.relpath}")
        address = blob_address(file.path)
        if address is None:
            findings.append(
                Finding(
                    rule="MLS-DATA-014",
                    severity=Severity.HIGH,
                    category="integrity",
                    title="Hub dataset file is not a cached blob of the commit",
                    location=where,
                    evidence=f"{file.relpath} in the snapshot of {resolved.commit} is not a "
                    "link into the cache's content-addressed blobs/, and no `files:` pin "
                    "covers it",
                    why="huggingface_hub links every file it downloads to a blob named after "
                    "its content; a plain file in the snapshot was put there by something "
                    "else, and nothing ties its bytes to the pinned commit",
                    remediation="delete the dataset's folder from the Hugging Face cache "
                    "(`hf cache rm`) and download it again, or pin the file under `files:`",
                    cwe="CWE-345",
                )
            )
            continue
        try:
            actual = (
                digests[file.relpath] if address.algorithm == "sha256" else git_blob_sha1(file.path)
            )
        except OSError:
            continue  # it was just hashed; a file that vanishes since is not a pass either
        # The blob must be this repository's, and (where the commit's listing is known) the
        # one the commit lists for this path: a link to another true blob is a swap.
        expected = _listed_digest(resolved.hub_files.get(file.relpath))
        if address.blob.parent != blobs or (expected is not None and expected != address.digest):
            listed = f"the commit lists {expected}" if expected else f"not {blobs}"
            findings.append(
                Finding(
                    rule="MLS-DATA-014",
                    severity=Severity.HIGH,
                    category="integrity",
                    title="Hub dataset file is not a cached blob of the commit",
                    location=where,
                    evidence=f"{file.relpath} in the snapshot of {resolved.commit} links to "
                    f"{address.blob} ({listed}), and no `files:` pin covers it",
                    why="huggingface_hub links each file of a snapshot to the blob the commit "
                    "lists for it, in the repository's own blobs/; a link elsewhere serves "
                    "other bytes under the commit's name",
                    remediation="delete the dataset's folder from the Hugging Face cache "
                    "(`hf cache rm`) and download it again, or pin the file under `files:`",
                    cwe="CWE-345",
                )
            )
            continue
        if actual != address.digest:
            findings.append(
                Finding(
                    rule="MLS-DATA-013",
                    severity=Severity.CRITICAL,
                    category="integrity",
                    title="Hub dataset file's cached blob does not match its content address",
                    location=where,
                    evidence=f"the cache names the blob of {file.relpath} "
                    f"{address.algorithm}:{address.digest}; its bytes hash to "
                    f"{address.algorithm}:{actual}",
                    why="the bytes were changed in the cache after the download (tampering or "
                    "corruption): they are not the pinned commit's data",
                    remediation="delete the dataset's folder from the Hugging Face cache "
                    "(`hf cache rm`) and download it again; find out who can write to the cache",
                    cwe="CWE-494",
                )
            )
    return findings


#: Files a data loader may execute as it reads them: pickles (``pd.read_pickle``, ``np.load``
#: with ``allow_pickle``, a webdataset ``.pyd``), archives that can hold them, native code and
#: scripts. Plain data (CSV, JSON, Parquet, Arrow, text) carries no loader-run content.
_LOADABLE = {
    Family.PICKLE,
    Family.NUMPY,
    Family.ZIP,
    Family.SEVEN_ZIP,
    Family.EXECUTABLE,
    Family.SCRIPT,
}
#: A dataset loading script (``<name>.py``, run by ``datasets`` with ``trust_remote_code``) is
#: plain text to the sniffer: its suffix says it is code.
_CODE_SUFFIXES = {".py", ".pyc", ".pyw"}


#: Suffixes of code and pickles, for files known only by name (the commit's listing). Data that
#: merely can hold a pickle (``.npy``, ``.zip``, ``.bin``) is too common to fail unseen.
_LOADABLE_SUFFIXES = {
    *_CODE_SUFFIXES,
    ".pkl",
    ".pickle",
    ".pyd",
    ".joblib",
    ".pt",
    ".pth",
    ".so",
}


def _unfetched_loadable(resolved: ResolvedDataset) -> list[Finding]:
    """Files of a pinned Hub dataset's commit that were never fetched (only the pins are), yet
    may run code when loaded (``load_dataset`` fetches a loading script itself): unscanned."""
    listed = {rel for rel, meta in resolved.hub_files.items() if meta.source != "cache-blob"}
    present = {f.relpath for f in resolved.files}
    unseen = sorted(
        rel for rel in listed - present if Path(rel).suffix.lower() in _LOADABLE_SUFFIXES
    )
    if not unseen:
        return []
    decl = resolved.decl
    return [
        Finding(
            rule="MLS-DATA-016",
            severity=Severity.HIGH,
            category="integrity",
            title="Hub dataset commit holds code or pickles that were not checked",
            location=Location(file=f"{decl.name}", key_path="files"),
            evidence=f"the commit {resolved.commit} lists {', '.join(unseen[:5])}"
            + (f" (and {len(unseen) - 5} more)" if len(unseen) > 5 else "")
            + "; only the pinned files were fetched and scanned",
            why="a loader given the repository (`datasets.load_dataset`, a loading script run "
            "with trust_remote_code, a pickle read by the training code) may execute these "
            "files, and nothing has looked at them",
            remediation="pin them under `files:` so they are fetched, hashed and scanned, or "
            "make sure the training job never loads them and say so in the dataset's card",
            cwe="CWE-829",
        )
    ]


def _scan_loadable(
    resolved: ResolvedDataset, digests: dict[str, str], ctx: CheckContext
) -> tuple[list[Finding], list[str]]:
    """The content scan (the artifacts' ``scan``) on each dataset file a loader may execute:
    a pin says the bytes were reviewed, not that loading them is safe."""
    # The scanner (and every format behind it) is imported by the run that uses it, not at import:
    # a check is imported once planned, and a warm gate runs few of them.
    from pytest_mlsupply.checks.artifact_scan import scan_policy
    from pytest_mlsupply.engines.scanner import scan_file

    findings: list[Finding] = []
    errors: list[str] = []
    policy = scan_policy(ctx.policy)
    for file in resolved.files:
        if file.relpath not in digests:
            continue  # unreadable: already the item's error
        try:
            ident = ctx.contents.get(file.path).identification
        except OSError as exc:
            errors.append(f"cannot read {resolved.decl.name}/{file.relpath}: {exc}")
            continue
        code = Path(file.relpath).suffix.lower() in _CODE_SUFFIXES
        if not (code or ident.unsafe or ident.family in _LOADABLE):
            continue
        report = scan_file(file.path, f"{resolved.decl.name}/{file.relpath}", policy)
        findings += report.findings
        errors += report.errors
    return findings, errors


def _listed_digest(meta: HubFileMeta | None) -> str | None:
    """The blob name the commit's listing gives a file (its LFS sha256, else its git blob id),
    or None when there is no listing beyond the blob names themselves."""
    if meta is None or meta.source == "cache-blob":
        return None
    listed = meta.lfs_sha256 if meta.is_lfs else meta.blob_id
    return listed.lower() if listed else None


# -- the dataset card -----------------------------------------------------------------------


def _card(resolved: ResolvedDataset) -> tuple[ModelCard | None, list[Finding]]:
    decl = resolved.decl
    path = resolved.card_path
    where = f"{decl.name}/{CARD}"
    if path is None or not path.is_file():
        return None, [
            Finding(
                rule="MLS-DATA-007",
                severity=Severity.LOW,
                category="documentation",
                title="dataset has no card",
                location=Location(file=where),
                evidence=f"no {CARD} in {resolved.root}",
                why="a dataset card says where the data comes from, what it holds and under "
                "which terms; without one a reviewer has only the manifest's word",
                remediation=f"add a {CARD} with YAML front matter (license, language, "
                "size_categories) and sections on the data's source and personal information",
            )
        ]
    try:
        return read_card(path), []
    except CardError as exc:
        return None, [
            Finding(
                rule="MLS-DATA-008",
                severity=Severity.MEDIUM,
                category="documentation",
                title="dataset card cannot be read",
                location=Location(file=where, line=1),
                evidence=str(exc),
                why="the card's front matter states the dataset's licence and size; a broken "
                "one cannot be compared with the manifest",
                remediation="fix the YAML between the leading '---' lines",
            )
        ]


def _card_claims(card: ModelCard) -> dict[str, Any]:
    meta = card.metadata
    claims = {
        "license": card_licence(meta),
        "language": meta.get("language"),
        "size_categories": meta.get("size_categories"),
        "pretty_name": meta.get("pretty_name"),
    }
    return {k: v for k, v in claims.items() if v not in (None, "", [])}


def _data_file_patterns(configs: object) -> list[str]:
    """Every path a card's ``configs:`` gives ``datasets.load_dataset``: ``data_dir`` and each
    ``data_files`` pattern, in any of its spellings (a string, a list, ``{split: path}``,
    ``[{split, path}]``)."""
    out: list[str] = []

    def collect(value: object) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            for item in value:
                collect(item)
        elif isinstance(value, dict):
            if "path" in value:
                collect(value["path"])
            else:
                for item in value.values():
                    collect(item)
        elif value is not None:
            out.append(str(value))

    for config in configs if isinstance(configs, list) else [configs]:
        if isinstance(config, dict):
            collect(config.get("data_files"))
            collect(config.get("data_dir"))
    return out


def _outside(pattern: str) -> str | None:
    """Why ``pattern`` reaches data the claim does not hash, or None when it stays inside."""
    text = pattern.strip().replace("\\", "/")
    if "://" in text or text.startswith(("hf:", "s3:", "gs:")):
        return "a remote location"
    if text.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", text):
        return "an absolute path"
    parts = [p for p in text.split("/") if p]
    if ".." in parts:
        return "a path outside the dataset directory"
    skipped = [p for p in parts if p in SKIPPED_DIRS]
    if skipped:
        return f"{skipped[0]}/, a directory the claim does not list"
    return None


def _card_data_files(decl: DatasetDecl, card: ModelCard) -> list[Finding]:
    """``datasets.load_dataset(<dir>)`` loads what the card's ``configs:`` name before any
    default: a pattern that reaches past the files hashed here loads data no pin covers."""
    findings = []
    for pattern in _data_file_patterns(card.metadata.get("configs")):
        why = _outside(pattern)
        if why is None:
            continue
        findings.append(
            Finding(
                rule="MLS-DATA-015",
                severity=Severity.HIGH,
                category="integrity",
                title="dataset card loads data from outside the files checked",
                location=Location(file=f"{decl.name}/{CARD}", key_path="configs"),
                evidence=f"the card's configs name {pattern!r}: {why}",
                why="`datasets.load_dataset` reads the files a card's `configs:` (`data_files`, "
                "`data_dir`) name: rows from there were never hashed or pinned, so the data "
                "trained on is not the data this claim passed",
                remediation="move the data into the dataset directory (outside .git/.cache) "
                "and pin it, or declare the remote data as a dataset of its own",
                cwe="CWE-829",
            )
        )
    return findings


def _size(decl: DatasetDecl, card: ModelCard, rows: int | None) -> list[Finding]:
    categories = card.metadata.get("size_categories")
    if isinstance(categories, str):
        categories = [categories]
    # Several categories (one per configuration) describe parts, not the total: not compared.
    if rows is None or not isinstance(categories, list) or len(categories) != 1:
        return []
    bounds = size_bounds(str(categories[0]))
    if bounds is None:
        return []
    low, high = bounds
    if low <= rows and (high is None or rows < high):
        return []
    return [
        Finding(
            rule="MLS-DATA-010",
            severity=Severity.MEDIUM,
            category="documentation",
            title="dataset card's size contradicts the files",
            location=Location(file=f"{decl.name}/{CARD}", key_path="size_categories"),
            evidence=f"the card says size_categories: {categories[0]}; the dataset's "
            f"CSV/TSV/JSON Lines files hold {rows} rows",
            why="a dataset whose size is not what its card says is not the dataset the card "
            "describes: rows were added, dropped or the card is stale",
            remediation="find out which side is wrong; fix the card's size_categories, or "
            "restore the missing (or remove the added) rows",
        )
    ]


def size_bounds(category: str) -> tuple[int, int | None] | None:
    """``10K<n<100K`` → (10000, 100000); ``n<1K`` → (0, 1000); ``n>1T`` → (10**12, None).

    Hugging Face's size categories; anything else (``unknown``) is None: not compared.
    """
    match = _SIZE_CATEGORY.match(category.strip())
    if match is None or not any(match.group(g) for g in ("low", "high", "above")):
        return None
    if match["above"]:
        return _number(match["above"]), None
    low = _number(match["low"]) if match["low"] else 0
    return low, _number(match["high"]) if match["high"] else None


def _number(text: str) -> int:
    unit = text[-1].upper() if text[-1].isalpha() else ""
    return int(float(text[: len(text) - len(unit)]) * _UNITS[unit])


def count_rows(files: tuple[ArtifactFile, ...]) -> int | None:
    """The number of records in the data files, or None when that cannot be counted cheaply.

    Counted only when there is at least one CSV/TSV/JSON Lines file, every file other than the
    documents beside the data is one, and they total at most ``MAX_COUNTED_BYTES``.
    CSV/TSV are read as CSV (a quoted field may span lines) less one header row per file; JSON
    Lines count their non-blank lines.
    """
    countable = []
    for file in files:
        suffix = Path(file.relpath).suffix.lower()
        if _DOCUMENT.match(Path(file.relpath).name):
            continue  # LICENSE.txt, NOTICE: about the data, not data
        if suffix not in _COUNTABLE:
            return None
        countable.append((file, _COUNTABLE[suffix]))
    if not countable or sum(f.size for f, _ in countable) > MAX_COUNTED_BYTES:
        return None
    total = 0
    # A long text field (an article, a transcript) is data, not an error: the csv module's
    # per-field limit (128 KiB) is lifted to the bytes counted at most, for this count only.
    limit = csv.field_size_limit(MAX_COUNTED_BYTES)
    try:
        for file, kind in countable:
            total += _records(file, kind)
    except csv.Error:
        return None  # not a CSV the csv module reads: rows not measured, size not compared
    finally:
        csv.field_size_limit(limit)
    return total


def _records(file: ArtifactFile, kind: str) -> int:
    with open(file.path, encoding="utf-8", errors="replace", newline="") as handle:
        if kind == "jsonl":
            return sum(1 for line in handle if line.strip())
        reader = csv.reader(handle, delimiter="\t" if kind == "tsv" else ",")
        records = sum(1 for record in reader if record)
        return max(records - 1, 0)


def _manifest_location(decl: DatasetDecl, ctx: CheckContext) -> Location:
    path = ctx.inventory.manifest.path
    return Location(file=path.name, line=decl.span.line, key_path=f"datasets[{decl.name}]")


CHECK = DatasetCheck(
    name="dataset",
    kind=RowKind.PROVENANCE,
    summary="the dataset is found, licensed, classified for personal data, matches its pins, "
    "and its card agrees with the manifest",
    run=run,
)
