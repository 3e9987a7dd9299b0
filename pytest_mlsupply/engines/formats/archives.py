"""Generic archives (zip, tar, 7z): identified, then members recursed within limits.

Identification and scanning share one reader per container: the zip reader of
:mod:`pytest_mlsupply.engines.ziparchive` (read like torch reads), :mod:`tarfile`, and py7zr.
A zip archive is identified by asking, in order, the formats that live in zips — a torch
checkpoint (``data.pkl``), a Keras v3 archive (``config.json``), an ``.npz`` (``.npy``
members), any archive holding a pickle — before it counts as a plain zip. Every member name is
judged (traversal, absolute paths, links, devices) before a member is extracted.

Rules (MLS-ARC-0xx) are documented in ``docs/checks.md``.
"""

from __future__ import annotations

import importlib
import io
import tarfile
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.budget import RATIO_FLOOR, BoundedFile, SeekableReader, checkpoint
from pytest_mlsupply.engines.containers import (
    bomb_finding,
    budget_spent,
    duplicate_finding,
    encrypted_finding,
    link_finding,
    scan_member,
    scan_zip_members,
    tar_member_findings,
    tar_member_over_limits,
    too_large_finding,
    too_many_finding,
    traversal_finding,
    unsafe_member_name,
)
from pytest_mlsupply.engines.formats import keras, nemo, numpy, skops, torch
from pytest_mlsupply.engines.identification import Family, Format, Identification, hex_bytes
from pytest_mlsupply.engines.ziparchive import (
    ZipFormatError,
    ZipListing,
    find_directory,
    read_zip_directory,
)
from pytest_mlsupply.results import Finding

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = [
    "appended_zip",
    "classify_zip",
    "identify_7z",
    "identify_tar",
    "identify_zip",
    "scan_7z",
    "scan_tar",
    "scan_zip",
    "tar_header",
]

_MAX_TAR_HEADERS = 4096
_SEVEN_ZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"

#: The formats that live in zip archives, asked in order; a plain zip when none claims it.
ZIP_CLAIMS: tuple[Callable[[ZipListing], Identification | None], ...] = (
    torch.claim_checkpoint_zip,
    keras.claim_keras_zip,
    skops.claim_skops_zip,
    numpy.claim_npz,
    torch.claim_pickle_members,
)


# --- identification -------------------------------------------------------------------------


def identify_zip(view: View) -> Identification | None:
    """A zip archive from its local header magic (or an empty archive's EOCD)."""
    head = view.head
    if head[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):
        return None
    if view.file is None:
        return Identification(
            Format.ZIP,
            Family.ZIP,
            False,
            "zip archive",
            f"magic {hex_bytes(head[:4])} (not listed)",
        )
    listing = list_zip(view.file)
    if listing is not None:
        return classify_zip(listing)
    # No central directory: a truncated download or a damaged archive. The first local header
    # still names the first member, which for torch is data.pkl.
    name = ""
    if head[:4] == b"PK\x03\x04" and len(head) >= 30:
        name_len = int.from_bytes(head[26:28], "little")
        name = head[30 : 30 + name_len].decode("utf-8", errors="replace")
    problem = "no end-of-central-directory record (truncated or damaged): loaders refuse it"
    if name == "data.pkl" or name.endswith("/data.pkl"):
        return Identification(
            Format.PYTORCH_ZIP,
            Family.ZIP,
            True,
            f"damaged PyTorch zip checkpoint (no central directory) with member {name}",
            f"magic 50 4b 03 04; first local header names {name}; no end-of-central-directory",
            problem=problem,
        )
    return Identification(
        Format.ZIP,
        Family.ZIP,
        False,
        "damaged zip archive: no end-of-central-directory record (truncated?)",
        f"magic {hex_bytes(head[:4])}; no end-of-central-directory record in the last 64 KiB",
        problem=problem,
    )


def list_zip(file: SeekableReader, size: int | None = None) -> ZipListing | None:
    """The archive's listing for identification, or None without a central directory."""
    size = size if size is not None else getattr(file, "size", None)
    assert size is not None
    try:
        directory = read_zip_directory(file, size, local_headers=False)
    except ZipFormatError:
        return None
    if directory.prefix:
        where = (
            f"end-of-central-directory at byte {directory.eocd_offset}; archive begins at byte "
            f"{directory.prefix}"
        )
    else:
        where = "magic 50 4b 03 04" if directory.cd_size else "magic 50 4b 05 06 (empty archive)"
    evidence = (
        f"{where}; central directory lists {len(directory.entries)} members (read as torch "
        "reads: central directory, local header offsets)"
    )
    if isinstance(file, BoundedFile) and file.starved:
        evidence += "; read budget exhausted, listing may be partial"
    return ZipListing(directory, file, evidence)


def classify_zip(listing: ZipListing) -> Identification:
    """What the formats that live in zips make of this archive; a plain zip otherwise."""
    for claim in ZIP_CLAIMS:
        found = claim(listing)
        if found is not None:
            return found
    return Identification(
        Format.ZIP,
        Family.ZIP,
        False,
        f"zip archive of {len(listing.directory.entries)} members",
        listing.evidence,
    )


def appended_zip(file: SeekableReader, size: int, *, tar: bool = False) -> int | None:
    """Where a zip archive that follows other content begins (self-extractors, polyglots).

    With ``tar``, a zip archive lying wholly inside one regular member's data (a torch
    checkpoint inside a NeMo archive) is that member, which the tar engine scans: not appended.
    """
    eocd = find_directory(file, size)
    if eocd is None or eocd.prefix <= 0:
        return None
    if tar and _inside_tar_member(file, eocd.prefix, eocd.position + 22 + len(eocd.comment)):
        return None
    return eocd.prefix


def _inside_tar_member(file: SeekableReader, start: int, end: int) -> bool:
    """Whether bytes ``start:end`` are all inside one regular tar member's data (same reader
    as :func:`identify_tar`, :mod:`tarfile`)."""
    fileobj: Any = file
    fileobj.seek(0)
    try:
        with tarfile.open(fileobj=fileobj, mode="r:") as archive:
            for count, info in enumerate(archive):
                if (
                    info.isfile()
                    and info.offset_data <= start
                    and end <= info.offset_data + info.size
                ):
                    return True
                if count >= _MAX_TAR_HEADERS:
                    break
    except (tarfile.TarError, OSError, EOFError, ValueError):
        pass
    return False


def identify_7z(view: View) -> Identification | None:
    if view.head[:6] != _SEVEN_ZIP_MAGIC:
        return None
    return Identification(
        Format.SEVEN_ZIP,
        Family.SEVEN_ZIP,
        False,
        "7-Zip archive (members listed when scanned)",
        "magic 37 7a bc af 27 1c",
    )


def tar_header(head: bytes) -> bool:
    """Whether ``head`` starts with a header :mod:`tarfile` accepts (an empty name too): what
    ``torch.load`` tries first on any file that is not a zip."""
    if len(head) < 512:
        return False
    try:
        tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def identify_tar(view: View) -> Identification | None:
    """A tar archive, read with :mod:`tarfile` (the reader the scan uses): member names, and
    the legacy torch checkpoint layout."""
    head = view.head
    if not tar_header(head):
        return None
    fileobj: Any = view.file if view.file is not None else io.BytesIO(head)
    fileobj.seek(0)
    names: list[str] = []
    pickle_head = b""
    try:
        with tarfile.open(fileobj=fileobj, mode="r:") as archive:
            for info in archive:
                names.append(info.name.removeprefix("./"))
                if names[-1] == "pickle" and info.isfile():
                    handle = archive.extractfile(info)
                    if handle is not None:
                        pickle_head = handle.read(512)
                if len(names) >= _MAX_TAR_HEADERS:
                    break
    except (tarfile.TarError, OSError, EOFError, ValueError):
        if not names:
            return None  # tarfile refuses even the first header: not a tar archive
    magic = head[257:262] == b"ustar"
    evidence = "ustar magic at byte 257" if magic else "valid tar header checksum"
    evidence += f"; members {', '.join(names[:6])}{', ...' if len(names) > 6 else ''}"
    claimed = torch.claim_tar(names, pickle_head, evidence) or nemo.claim_nemo_tar(names, evidence)
    if claimed is not None:
        return claimed
    return Identification(
        Format.TAR, Family.TAR, False, f"tar archive of {len(names)} members", evidence
    )


# --- zip ---------------------------------------------------------------------------------


def scan_zip(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan every member of a zip archive, reporting hostile names, links and bombs."""
    return scan_zip_members(blob, ctx)


# --- tar ---------------------------------------------------------------------------------


def scan_tar(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan every regular member of a tar archive; links, devices and odd names are findings."""
    findings: list[Finding] = []
    limits = ctx.policy.limits
    with blob.open() as fh:
        try:
            archive = tarfile.open(fileobj=fh, mode="r:")  # noqa: SIM115 - closed by `with` below
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ScanError(f"tar archive cannot be read: {exc}") from exc
        with archive:
            names: Counter[str] = Counter()
            count = 0
            try:
                for member in archive:
                    count += 1
                    if count > limits.max_members:
                        findings.append(too_many_finding(blob, count, limits.max_members))
                        break
                    if ctx.guard.poll():
                        break  # past policy.limits: the scanner reports which
                    names[member.name] += 1
                    if names[member.name] == 2:
                        findings.append(duplicate_finding(blob, member.name, 2))
                    findings.extend(tar_member_findings(blob, member))
                    if not member.isfile() or budget_spent(ctx):
                        continue
                    findings.extend(_scan_tar_file(ctx, blob, archive, member))
            except (tarfile.TarError, OSError, EOFError) as exc:
                # Findings so far stand; the unread rest is an error (fail closed).
                ctx.errors.append(
                    f"{blob.location().describe()}: tar archive is damaged after member "
                    f"{count}: {exc}"
                )
    return findings


def _scan_tar_file(
    ctx: ScanContext, blob: Blob, archive: tarfile.TarFile, member: tarfile.TarInfo
) -> list[Finding]:
    over = tar_member_over_limits(blob, member, ctx.policy.limits)
    if over is not None:
        return [over]
    handle = archive.extractfile(member)
    if handle is None:
        return []
    with handle:
        data = handle.read(member.size)
    return scan_member(ctx, blob, member.name, data)


# --- 7z ----------------------------------------------------------------------------------


def scan_7z(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan 7-Zip members with py7zr: names and kinds judged from its listing first, then only
    the members within the limits are extracted, into memory (never to disk), a batch at a
    time so that memory holds about one member's worth, each batch charged to the budget.

    py7zr refuses to extract a member whose name climbs out of the target (even into memory)
    and renames duplicates; every member is therefore extracted under a placeholder name, so
    the content of a badly named or duplicated member is scanned too. A symbolic link's target
    (its data) is read the same way.
    """
    py7zr: Any = importlib.import_module("py7zr")  # imported on first use: it is heavy
    limits = ctx.policy.limits
    findings: list[Finding] = []
    with blob.open() as fh:
        try:
            archive = py7zr.SevenZipFile(fh, mode="r")
        except Exception as exc:  # py7zr raises its own and many builtin exception types
            if "password" in str(exc).lower() or type(exc).__name__ == "PasswordRequired":
                return [
                    encrypted_finding(
                        blob, "(archive headers)", "the 7z headers are encrypted", kind="7z"
                    )
                ]
            raise ScanError(f"7z archive cannot be read: {type(exc).__name__}: {exc}") from exc
        with archive:
            try:
                infos = list(archive.list())
                encrypted = bool(archive.needs_password())
            except Exception as exc:  # corrupt metadata: a timestamp past year 9999 overflows
                raise ScanError(
                    f"7z archive cannot be listed: {type(exc).__name__}: {exc}"
                ) from exc
            findings.extend(_seven_zip_entry_findings(blob, infos, limits.max_members))
            wanted = _seven_zip_targets(blob, infos, findings, limits, encrypted)
            # Solid archives declare no packed size per member: judge the whole archive.
            declared = sum(int(infos[index].uncompressed or 0) for index, _ in wanted)
            if declared > RATIO_FLOOR and declared > max(blob.size, 1) * limits.max_ratio:
                findings.append(bomb_finding(blob, None, declared, blob.size, "declared sizes"))
                return findings
            if not wanted or budget_spent(ctx):
                return findings
            placeholders = _placeholder_names(archive)
            for number, batch in enumerate(_batches(wanted, infos, limits.max_member_bytes)):
                if budget_spent(ctx):
                    break
                if number:
                    archive.reset()
                factory = _bounded_factory(py7zr, limits.max_member_bytes)
                try:
                    archive.extract(targets=[placeholders[i] for i, _ in batch], factory=factory)
                except Exception as exc:  # corrupt data surfaces as assorted exception types
                    # Findings outrank errors: what the listing showed stands.
                    ctx.error(blob, f"7z members cannot be extracted: {type(exc).__name__}: {exc}")
                    return findings
                findings.extend(_scan_extracted(ctx, blob, infos, batch, factory, placeholders))
    return findings


def _batches(
    wanted: list[tuple[int, str]], infos: list[Any], size: int
) -> list[list[tuple[int, str]]]:
    """Members in groups whose declared sizes add up to about ``size``."""
    batches: list[list[tuple[int, str]]] = []
    total = size
    for item in wanted:
        member_size = int(infos[item[0]].uncompressed or 0)
        if total + member_size > size and total:
            batches.append([])
            total = 0
        batches[-1].append(item)
        total += member_size
    return batches


def _scan_extracted(
    ctx: ScanContext,
    blob: Blob,
    infos: list[Any],
    batch: list[tuple[int, str]],
    factory: Any,
    placeholders: list[str],
) -> list[Finding]:
    findings: list[Finding] = []
    for index, name in batch:
        checkpoint()  # 10^5 members of a few bytes each: the scan's budgets
        sink = factory.products.pop(placeholders[index], None)
        if sink is None:
            ctx.error(blob, "py7zr did not extract this member", key_path=name)
            continue
        if infos[index].is_symlink:
            target = sink.data()[:4096].decode("utf-8", errors="replace")
            findings.append(link_finding(blob, name, "symbolic link", target))
            continue
        if sink.over_limit:
            findings.append(bomb_finding(blob, name, sink.written, 0, "declared sizes lie"))
        findings.extend(scan_member(ctx, blob, name, sink.data()))
    return findings


def _placeholder_names(archive: Any) -> list[str]:
    """Give every member a unique, harmless name to be extracted under (by index).

    The one place that reaches into py7zr's member list: it offers no way to extract a member
    whose name it refuses, and the findings already name the originals.
    """
    names = []
    for index, member in enumerate(archive.files):
        checkpoint()
        names.append(f"member-{index}")
        member._file_info["filename"] = names[-1]
    return names


def _seven_zip_entry_findings(blob: Blob, infos: list[Any], max_members: int) -> list[Finding]:
    findings: list[Finding] = []
    names: Counter[str] = Counter(str(i.filename) for i in infos)
    for name, count in names.items():
        checkpoint()
        if count > 1:
            findings.append(duplicate_finding(blob, name, count))
    for info in infos[:max_members]:
        checkpoint()
        name = str(info.filename)
        reason = unsafe_member_name(name)
        if reason is not None:
            findings.append(traversal_finding(blob, name, reason))
    if len(infos) > max_members:
        findings.append(too_many_finding(blob, len(infos), max_members))
    return findings


def _seven_zip_targets(
    blob: Blob, infos: list[Any], findings: list[Finding], limits: Any, encrypted: bool
) -> list[tuple[int, str]]:
    """(index, name) of the members to extract: regular files within the limits."""
    wanted: list[tuple[int, str]] = []
    for index, info in enumerate(infos[: limits.max_members]):
        checkpoint()
        name = str(info.filename)
        if info.is_directory:
            continue
        if info.is_symlink:
            wanted.append((index, name))  # its data is the link's target
            continue
        if encrypted:
            findings.append(
                encrypted_finding(blob, name, "the 7z archive needs a password", kind="7z")
            )
            continue
        size = int(info.uncompressed or 0)
        packed = int(info.compressed or 0)
        if size > limits.max_member_bytes:
            findings.append(too_large_finding(blob, name, size, limits.max_member_bytes))
        elif packed and size > RATIO_FLOOR and size > packed * limits.max_ratio:
            findings.append(bomb_finding(blob, name, size, packed, "declared sizes"))
        else:
            wanted.append((index, name))
    return wanted


def _bounded_factory(py7zr: Any, limit: int) -> Any:
    """A py7zr writer factory that keeps each member in memory, never beyond ``limit``."""
    base = py7zr.io.WriterFactory

    class _Sink(io.BytesIO):
        content = b""
        written = 0
        over_limit = False

        def write(self, data: Any) -> int:
            chunk = bytes(data)
            self.written += len(chunk)
            room = limit - self.tell()
            if len(chunk) > room:
                self.over_limit = True
            return super().write(chunk[: max(room, 0)]) if room > 0 else 0

        def size(self) -> int:
            return len(self.getvalue())

        def close(self) -> None:
            # py7zr closes each sink once written; keep what it holds.
            if not self.closed:
                self.content = self.getvalue()
            super().close()

        def data(self) -> bytes:
            return self.content if self.closed else self.getvalue()

    class _Factory(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            self.products: dict[str, _Sink] = {}

        def create(self, filename: str) -> _Sink:
            sink = _Sink()
            self.products[filename] = sink
            return sink

    return _Factory()
