"""``mlsupply verify``: a deploy step checks that exactly these bytes passed the gate.

``mlsupply verify ATTESTATION --key PUB [--key PUB2 --threshold N] [--bom PATH] [FILE_OR_DIR...]``

1. The envelope's signatures are verified (:func:`pytest_mlsupply.engines.dsse.verify`: at
   least ``--threshold`` distinct keys of those given); nothing else is trusted before that.
   A Sigstore bundle (``--mlsupply-attest sigstore``) is verified with sigstore-python instead:
   its Fulcio certificate must name ``--identity`` from ``--issuer``, under the trusted root of
   ``--trust-config`` (offline) or Sigstore's public-good instance.
2. The statement must be a pytest-mlsupply gate attestation (its predicate type).
3. ``--bom PATH`` must have the sha256 of the BOM the gate attested.
4. Every file given, and every regular file under a directory given, must be a subject with
   the same sha256, matched by name (equal bytes under another name are not a subject):

   - a directory is judged under one prefix (:func:`_directory_prefix`: ``models/tiny`` →
     ``tiny/…``, ``models`` → none), every attested file under it must be present, and an
     empty directory fails;
   - a file is matched to the subject its path ends with, else to the subjects named
     ``…/<file name>`` when they agree on one digest (else it is ambiguous).

5. The recorded gate verdict must be ``pass`` (``--allow-failed-gate``: integrity only).
6. The gate's threshold must be its manifest's ``policy.fail_on`` or stricter
   (``--allow-weaker-threshold`` accepts a weaker ``--mlsupply-fail-on``).

Exit status: 0 when all of that holds; 1 when a check fails (signature, digest, extra file,
failed gate); 2 when an input cannot be read (the attestation, a key, a named file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_mlsupply.engines import dsse
from pytest_mlsupply.printable import one_line
from pytest_mlsupply.reports.attestation import GATE_PASS, PREDICATE_TYPE

EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register the ``verify`` subcommand on ``mlsupply``'s subparsers."""
    verify: argparse.ArgumentParser = commands.add_parser(
        "verify",
        help="verify the gate's attestation and that files are the bytes it checked",
        description="Verify an attestation written by pytest --mlsupply-attest: its "
        "signature, the BOM and each given file against the attested digests, and the gate's "
        "verdict.",
        epilog="Exit status: 0 all of it holds; 1 a check fails (signature, digest, extra file, "
        "failed gate); 2 an input cannot be read (the attestation, a key, a named file).",
    )
    verify.add_argument("attestation", type=Path, metavar="ATTESTATION")
    verify.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar="FILE_OR_DIR",
        help="files (or directories, walked) that must be attested subjects with equal sha256",
    )
    verify.add_argument(
        "--key",
        dest="keys",
        action="append",
        type=Path,
        default=[],
        metavar="PUB",
        help="a PEM public key (EC, RSA, Ed25519) or certificate; repeat for several keys "
        "(a DSSE envelope needs at least one)",
    )
    verify.add_argument(
        "--identity",
        default=None,
        help="Sigstore bundle: the signer identity its Fulcio certificate must name "
        "(e.g. the CI workflow's URI)",
    )
    verify.add_argument(
        "--issuer", default=None, help="Sigstore bundle: the OIDC issuer of that identity"
    )
    verify.add_argument(
        "--trust-config",
        type=Path,
        default=None,
        metavar="PATH",
        help="Sigstore bundle: a ClientTrustConfig JSON (trusted root) for offline "
        "verification; without it the public-good trusted root is fetched",
    )
    verify.add_argument(
        "--threshold",
        type=int,
        default=1,
        metavar="N",
        help="how many distinct keys must have signed (default 1)",
    )
    verify.add_argument("--bom", type=Path, default=None, metavar="PATH", help="the BOM file")
    verify.add_argument(
        "--allow-failed-gate",
        action="store_true",
        help="check integrity only: accept an attestation whose recorded gate verdict is fail",
    )
    verify.add_argument(
        "--allow-weaker-threshold",
        action="store_true",
        help="accept a gate that ran with a failing threshold weaker than its manifest's "
        "policy.fail_on (--mlsupply-fail-on or ini mlsupply_fail_on)",
    )
    verify.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="the report on stdout: text (default) or json",
    )
    return verify


def take_files(args: argparse.Namespace, rest: list[str], parser: argparse.ArgumentParser) -> None:
    """Positionals argparse left over after an option are files; anything else is an error."""
    unknown = [arg for arg in rest if arg.startswith("-")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.files = [*args.files, *(Path(arg) for arg in rest)]


@dataclass
class FileCheck:
    path: str
    status: str
    """``ok``, ``changed``, ``not-a-subject`` or ``unreadable``."""
    sha256: str | None = None
    subject: str | None = None
    attested: list[str] = field(default_factory=list)
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "sha256": self.sha256,
            "subject": self.subject,
            "attested": self.attested,
            "detail": self.detail,
        }


@dataclass
class Report:
    attestation: str
    signature: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    files: list[FileCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unreadable: bool = False

    @property
    def exit_status(self) -> int:
        if self.unreadable:
            return EXIT_UNREADABLE
        return EXIT_FAILED if self.problems else EXIT_OK

    def fail(self, problem: str) -> None:
        self.problems.append(problem)

    def to_dict(self) -> dict[str, Any]:
        return {
            "attestation": self.attestation,
            "ok": self.exit_status == EXIT_OK,
            "signature": self.signature,
            "gate": self.gate,
            "files": [f.to_dict() for f in self.files],
            "problems": self.problems,
        }


def run_verify(args: argparse.Namespace) -> int:
    report = verify_attestation(
        args.attestation,
        keys=args.keys,
        threshold=args.threshold,
        bom=args.bom,
        files=args.files,
        allow_failed_gate=args.allow_failed_gate,
        allow_weaker_threshold=args.allow_weaker_threshold,
        sigstore=SigstoreIdentity(args.identity, args.issuer, args.trust_config),
    )
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        _print_text(report)
    return report.exit_status


@dataclass(frozen=True)
class SigstoreIdentity:
    """Who must have signed a Sigstore bundle, and the trusted root to check it against."""

    identity: str | None = None
    issuer: str | None = None
    trust_config: Path | None = None


def verify_attestation(
    attestation: Path,
    *,
    keys: list[Path],
    threshold: int = 1,
    bom: Path | None = None,
    files: list[Path] | None = None,
    allow_failed_gate: bool = False,
    allow_weaker_threshold: bool = False,
    sigstore: SigstoreIdentity | None = None,
) -> Report:
    report = Report(attestation=str(attestation))
    try:
        data = attestation.read_bytes()
    except OSError as exc:
        report.unreadable = True
        report.fail(f"{attestation}: cannot read the attestation ({exc.strerror or exc})")
        return report
    if _is_sigstore_bundle(data):
        statement = _verify_bundle(report, data, attestation, sigstore or SigstoreIdentity())
    else:
        statement = _verify_envelope(report, data, attestation, keys, threshold)
    if statement is None:
        return report
    if statement.predicate_type != PREDICATE_TYPE:
        report.fail(
            f"{attestation}: predicateType {statement.predicate_type!r} is not a pytest-mlsupply "
            f"gate attestation ({PREDICATE_TYPE!r})"
        )
        return report
    predicate = statement.predicate
    subjects = {s.name: s.digests.get("sha256") for s in statement.subjects}
    _check_gate(report, predicate, allow_failed_gate)
    _check_threshold(report, predicate, allow_weaker_threshold)
    if bom is None and not files:
        # A signature and a verdict alone say nothing about the bytes about to be deployed.
        report.fail(
            "nothing was compared with the attested digests: give --bom and the files or "
            "directories to deploy"
        )
    if bom is not None:
        _check_bom(report, bom, predicate, subjects)
    for argument in files or []:
        _check_argument(report, argument, subjects)
    return report


def _verify_envelope(
    report: Report, data: bytes, attestation: Path, keys: list[Path], threshold: int
) -> dsse.Statement | None:
    """The statement of a DSSE envelope signed by ``threshold`` of ``keys``, else None."""
    if not keys:
        report.unreadable = True
        report.fail(f"{attestation} is a DSSE envelope: pass the public key(s) with --key PUB")
        return None
    try:
        envelope = dsse.read_envelope(data, source=str(attestation))
        public = [dsse.load_public_key(key) for key in keys]
    except dsse.DsseError as exc:
        report.unreadable = True
        report.fail(str(exc))
        return None
    try:
        verified = dsse.verify(envelope, public, threshold)
    except dsse.DsseError as exc:
        report.signature = {"verified": False, "error": str(exc)}
        report.fail(f"signature: {exc}; nothing in the attestation can be trusted")
        return None
    report.signature = {"verified": True, "keyids": list(verified.keyids)}
    return verified.statement


def _is_sigstore_bundle(data: bytes) -> bool:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return False  # the DSSE reader reports what is wrong with it
    return isinstance(document, dict) and "dsseEnvelope" in document


def _verify_bundle(
    report: Report, data: bytes, attestation: Path, sigstore: SigstoreIdentity
) -> dsse.Statement | None:
    """The statement of a Sigstore bundle whose certificate names the expected identity."""
    if not sigstore.identity or not sigstore.issuer:
        report.unreadable = True
        report.fail(
            f"{attestation} is a Sigstore bundle: pass --identity and --issuer (the CI identity "
            "that signed it), and --trust-config PATH to verify offline"
        )
        return None
    from sigstore.models import Bundle, ClientTrustConfig
    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity

    try:
        if sigstore.trust_config is not None:
            trust = ClientTrustConfig.from_json(sigstore.trust_config.read_text(encoding="utf-8"))
            verifier = Verifier(trusted_root=trust.trusted_root)
        else:
            verifier = Verifier.production()
    except Exception as exc:  # unreadable file, bad JSON, or the TUF fetch failing offline
        report.unreadable = True
        where = sigstore.trust_config or "Sigstore's public-good trusted root"
        report.fail(
            f"{where}: cannot load the trusted root ({type(exc).__name__}: {exc}); offline, "
            "pass --trust-config PATH"
        )
        return None
    try:
        bundle = Bundle.from_json(data)
        payload_type, payload = verifier.verify_dsse(
            bundle, Identity(identity=sigstore.identity, issuer=sigstore.issuer)
        )
    except Exception as exc:  # sigstore raises many types; every one means "not verified"
        report.signature = {"verified": False, "error": str(exc)}
        report.fail(
            f"signature: the Sigstore bundle does not verify for {sigstore.identity} "
            f"({sigstore.issuer}): {exc}; nothing in the attestation can be trusted"
        )
        return None
    if payload_type != dsse.IN_TOTO_PAYLOAD_TYPE:
        report.fail(f"{attestation}: payloadType {payload_type!r} is not in-toto's")
        return None
    try:
        statement = dsse.read_statement(payload, source=str(attestation))
    except dsse.DsseError as exc:
        report.fail(str(exc))
        return None
    report.signature = {
        "verified": True,
        "identity": sigstore.identity,
        "issuer": sigstore.issuer,
    }
    return statement


def _check_gate(report: Report, predicate: Any, allow_failed_gate: bool) -> None:
    gate = predicate.get("gate") if isinstance(predicate, dict) else None
    verdict = gate.get("verdict") if isinstance(gate, dict) else None
    tool = predicate.get("tool", {})
    declared = predicate.get("declaredNotChecked")
    declared = declared if isinstance(declared, list) else []
    report.gate = {
        "verdict": verdict,
        "exitStatus": gate.get("exitStatus") if isinstance(gate, dict) else None,
        "counts": gate.get("counts") if isinstance(gate, dict) else None,
        "timestamp": predicate.get("timestamp"),
        "tool": tool.get("version") if isinstance(tool, dict) else None,
        "declaredNotChecked": [d.get("key") for d in declared if isinstance(d, dict)],
    }
    baseline = predicate.get("baseline")
    if isinstance(baseline, dict):
        # A pass that relies on accepted findings says so (docs/baseline.md).
        report.gate["baseline"] = baseline
    if verdict == GATE_PASS:
        return
    failed = [
        f"{i.get('subject')} [{i.get('check')}]: {i.get('verdict')}"
        for i in predicate.get("items", [])
        if isinstance(i, dict) and i.get("verdict") in ("fail", "error", "not run")
    ]
    detail = f" ({'; '.join(failed[:5])}{' …' if len(failed) > 5 else ''})" if failed else ""
    if allow_failed_gate:
        report.gate["accepted"] = "--allow-failed-gate"
        return
    report.fail(
        f"gate: the attested session did not pass (verdict {verdict!r}){detail}; "
        "pass --allow-failed-gate to check integrity only"
    )


def _check_threshold(report: Report, predicate: Any, allow_weaker: bool) -> None:
    """The gate must have failed at its manifest's own threshold (or a stricter one): with
    ``--mlsupply-fail-on critical`` over a manifest's ``high``, a high finding is a warning
    and the gate "passes" without its policy having been applied."""
    from pytest_mlsupply.results import Severity

    gate = predicate.get("gate") if isinstance(predicate, dict) else None
    gate = gate if isinstance(gate, dict) else {}
    used, declared = gate.get("threshold"), gate.get("manifestThreshold")
    report.gate["threshold"], report.gate["manifestThreshold"] = used, declared
    try:
        weaker = Severity.parse(str(used)) > Severity.parse(str(declared))
    except ValueError:
        problem = (
            f"gate: the attestation does not record the threshold it failed at against its "
            f"manifest's (threshold {used!r}, manifest {declared!r}): a weaker "
            "--mlsupply-fail-on cannot be ruled out"
        )
    else:
        if not weaker:
            return
        problem = (
            f"gate: it failed only at {used} and above, weaker than its manifest's "
            f"policy.fail_on {declared} (--mlsupply-fail-on or ini mlsupply_fail_on): findings "
            f"below {used} did not fail it"
        )
    if allow_weaker:
        report.gate["acceptedThreshold"] = "--allow-weaker-threshold"
        return
    report.fail(f"{problem}; pass --allow-weaker-threshold to accept it")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_bom(report: Report, bom: Path, predicate: Any, subjects: dict[str, str | None]) -> None:
    recorded = predicate.get("bom") if isinstance(predicate, dict) else None
    name = recorded.get("name") if isinstance(recorded, dict) else None
    attested = subjects.get(name) if isinstance(name, str) else None
    try:
        actual = _sha256(bom)
    except OSError as exc:
        report.unreadable = True
        report.files.append(FileCheck(str(bom), "unreadable", detail=str(exc.strerror or exc)))
        report.fail(f"--bom {bom}: cannot read it ({exc.strerror or exc})")
        return
    if attested is None:
        report.files.append(FileCheck(str(bom), "not-a-subject", actual))
        report.fail(f"--bom {bom}: the attestation names no BOM subject")
    elif actual != attested:
        report.files.append(FileCheck(str(bom), "changed", actual, name, [attested]))
        report.fail(
            f"--bom {bom}: sha256 {actual}, but the gate attested {attested} for {name}: "
            "the BOM was changed after the gate wrote it"
        )
    else:
        report.files.append(FileCheck(str(bom), "ok", actual, name, [attested]))


def _walk(argument: Path) -> list[tuple[Path, str]]:
    """(file, path relative to the directory) for every file under ``argument``: the gate's own
    listing (:func:`pytest_mlsupply.sources.local.list_model_files`), so a directory the gate
    passed verifies, and a file the gate would have checked is never left out."""
    from pytest_mlsupply.sources.local import list_model_files

    return [(file.path, file.relpath) for file in list_model_files("", argument, {})]


def _check_argument(report: Report, argument: Path, subjects: dict[str, str | None]) -> None:
    if not argument.exists():
        report.unreadable = True
        report.files.append(FileCheck(str(argument), "unreadable", detail="no such file"))
        report.fail(f"{argument}: no such file or directory")
        return
    if argument.is_dir():
        _check_directory(report, argument, subjects)
        return
    try:
        actual = _sha256(argument)
    except OSError as exc:
        _unreadable(report, argument, exc)
        return
    report.files.append(_match_file(argument, actual, subjects, report))


def _unreadable(report: Report, path: Path, exc: OSError) -> None:
    report.unreadable = True
    report.files.append(FileCheck(str(path), "unreadable", detail=str(exc.strerror or exc)))
    report.fail(f"{path}: cannot read it ({exc.strerror or exc})")


def _subject_name(prefix: str, rel: str) -> str:
    return f"{prefix}/{rel}" if prefix else rel


def _directory_prefix(
    argument: Path, rels: list[str], subjects: dict[str, str | None]
) -> tuple[str | None, list[str]]:
    """The one subject prefix a directory's files are named under, or None and the prefixes
    that compete for it.

    A directory is one tree: every file in it is judged under the same prefix, so a file of
    another model (or under another name) can never stand in for one of this model's files.
    The prefix is, in order: the longest one the directory's own path ends with (``models/tiny``
    → ``tiny``); none at all when the files' own paths are subjects (the ``models`` parent
    directory); else the only prefix any file's name fits. Several fitting prefixes and no way
    to choose between them is ambiguous, and fails.
    """
    candidates: set[str] = set()
    for rel in rels:
        for name in subjects:
            if name == rel:
                candidates.add("")
            elif name.endswith("/" + rel):
                candidates.add(name[: -len(rel) - 1])
    parts = Path(os.path.abspath(argument)).parts
    by_path = [
        prefix
        for prefix in candidates
        if prefix and tuple(parts[-len(prefix.split("/")) :]) == tuple(prefix.split("/"))
    ]
    if by_path:
        return max(by_path, key=lambda p: len(p.split("/"))), []
    if "" in candidates:
        return "", []
    if len(candidates) == 1:
        return next(iter(candidates)), []
    return None, sorted(candidates)


def _check_directory(report: Report, argument: Path, subjects: dict[str, str | None]) -> None:
    try:
        walked = _walk(argument)
    except OSError as exc:
        _unreadable(report, argument, exc)
        return
    if not walked:
        report.fail(f"{argument}: no files under it: an empty directory proves nothing")
        return
    prefix, competing = _directory_prefix(argument, [rel for _, rel in walked], subjects)
    if prefix is None and competing:
        report.fail(
            f"{argument}: its files are named like the files of several attested models "
            f"({', '.join(competing)}), and the directory's name is none of them: give the "
            "model's directory under its model's name (the gate names a file "
            "<model>/<path in the model>; a symlink named after the model will do, e.g. for "
            "a Hub cache snapshot), so no model's file can pass as another's"
        )
        return
    seen: set[str] = set()
    for path, rel in walked:
        try:
            actual = _sha256(path)
        except OSError as exc:
            _unreadable(report, path, exc)
            continue
        name = _subject_name(prefix, rel) if prefix is not None else None
        if name is not None and name in subjects:
            seen.add(name)
            report.files.append(_compare(path, actual, [name], subjects, report))
        else:
            report.files.append(_not_a_subject(path, actual, subjects, report))
    if prefix is None:
        return
    # The whole tree: an attested file of this model that is absent is a different model.
    if prefix:
        wanted = [n for n in subjects if n.startswith(prefix + "/")]
    else:
        tops = {rel.split("/", 1)[0] for _, rel in walked if "/" in rel}
        wanted = [n for n in subjects if "/" in n and n.split("/", 1)[0] in tops]
    for name in sorted(set(wanted) - seen):
        rel = name[len(prefix) + 1 :] if prefix else name
        report.files.append(FileCheck(str(argument / rel), "missing", subject=name))
        report.fail(
            f"{argument / rel}: missing: the gate attested {name} (sha256 {subjects[name]}), "
            "and the directory does not hold it"
        )


def _compare(
    path: Path, actual: str, names: list[str], subjects: dict[str, str | None], report: Report
) -> FileCheck:
    """The file against the subjects it is named as: it must carry their digest."""
    attested = sorted({d for n in names if (d := subjects[n]) is not None})
    if attested == [actual]:
        return FileCheck(str(path), "ok", actual, names[0], [actual])
    report.fail(
        f"{path}: changed: sha256 {actual}, but the gate attested "
        f"{', '.join(attested) or 'no sha256'} for {', '.join(names)}"
    )
    return FileCheck(str(path), "changed", actual, names[0], attested)


def _not_a_subject(
    path: Path, actual: str, subjects: dict[str, str | None], report: Report
) -> FileCheck:
    same = sorted(n for n, d in subjects.items() if d == actual)
    # Equal bytes under another name are not what the gate checked: a name decides how a
    # loader reads a file (a config copied to adapter_config.json turns a model into an adapter).
    hint = f" (its bytes are attested as {same[0]}, under another name)" if same else ""
    report.fail(
        f"{path}: not a subject of the attestation (sha256 {actual}): the gate did not check "
        f"this file{hint}"
    )
    return FileCheck(str(path), "not-a-subject", actual, detail=hint.strip(" ()"))


def _match_file(
    path: Path, actual: str, subjects: dict[str, str | None], report: Report
) -> FileCheck:
    """A file argument: the subject its path ends with (the longest), else the subjects whose
    name ends with its file name, when they all carry one digest."""
    parts = Path(os.path.abspath(path)).parts
    by_path = [n for n in subjects if tuple(parts[-len(n.split("/")) :]) == tuple(n.split("/"))]
    if by_path:
        longest = max(by_path, key=lambda n: len(n.split("/")))
        return _compare(path, actual, [longest], subjects, report)
    named = sorted(n for n in subjects if n.endswith("/" + path.name))
    if len({subjects[n] for n in named}) > 1:
        report.fail(
            f"{path}: its name fits several attested files with different contents "
            f"({', '.join(named)}): give it under its model's directory "
            "(<model>/<path in the model>), so no model's file can pass as another's"
        )
        return FileCheck(
            str(path), "ambiguous", actual, None, sorted({d for n in named if (d := subjects[n])})
        )
    if named:
        return _compare(path, actual, named, subjects, report)
    return _not_a_subject(path, actual, subjects, report)


class _OneLineWriter:
    """Writes each ``text`` ending in a line break as one line: what is in it (a file name the
    user passed, found in a directory someone else filled; an exception's text) has its line
    breaks and control characters escaped, so it cannot forge an ``OK`` line, clear the screen
    or hide the ``NOT verified`` that follows."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> None:
        self._stream.write(one_line(text.removesuffix("\n")) + "\n")


def _print_text(report: Report) -> None:
    out = _OneLineWriter(sys.stdout)
    signature = report.signature
    if signature.get("verified") and "identity" in signature:
        out.write(
            f"signature: verified (Sigstore: {signature['identity']}, {signature['issuer']})\n"
        )
    elif signature.get("verified"):
        keyids = ", ".join(k[:16] for k in signature.get("keyids", []))
        out.write(f"signature: verified by {len(signature['keyids'])} key(s) ({keyids})\n")
    if report.gate:
        gate = report.gate
        accepted = " (accepted: --allow-failed-gate)" if gate.get("accepted") else ""
        threshold = f", fail at {gate.get('threshold')}"
        if gate.get("manifestThreshold") != gate.get("threshold"):
            threshold += f" (manifest: {gate.get('manifestThreshold')})"
        out.write(
            f"gate: {gate.get('verdict')} (exit status {gate.get('exitStatus')}{threshold}) at "
            f"{gate.get('timestamp')}, pytest-mlsupply {gate.get('tool')}{accepted}\n"
        )
    for key in report.gate.get("declaredNotChecked") or []:
        out.write(f"declared, not checked (the pass does not cover it): {key}\n")
    baseline = report.gate.get("baseline")
    if baseline:
        out.write(
            f"baseline: {baseline.get('file')} (sha256 {str(baseline.get('sha256'))[:16]}…): "
            f"{baseline.get('accepted')} finding(s) accepted, {baseline.get('expired')} expired\n"
        )
    for check in report.files:
        if check.status == "ok":
            via = f" ({check.detail})" if check.detail else ""
            out.write(f"OK {check.path} = {check.subject}{via}\n")
    for problem in report.problems:
        out.write(f"FAIL {problem}\n")
    if report.exit_status == EXIT_OK:
        out.write(f"verified: {report.attestation}\n")
    else:
        count = len(report.problems)
        out.write(f"NOT verified: {count} problem{'s' if count != 1 else ''}\n")
