"""The HTML report: one self-contained file a person reads, rendered from the two saved documents.

:func:`render_html` takes the matrix's JSON document (``<matrix>.json``, schema
``mlsupply-matrix/1``) and the ML-BOM's JSON document, and nothing else: the gate
(:func:`write_html`, a writer of :mod:`.outputs`) and ``mlsupply report`` (:mod:`pytest_mlsupply.
report_cli`) call the same function on the same documents, so a report rebuilt from the saved
files is byte-identical to the one the gate wrote. Nothing in it depends on the clock or the
machine.

What it shows: the verdict and counts, the pass/fail matrix (every cell with a text label beside
its colour), filterable by verdict, severity and kind; every finding with its evidence, location
and remediation; each model's lineage as an inline SVG graph; the dependency vulnerabilities
with their fixed versions; and the BOM's summary (components, hashes, serial number).

Everything shown comes from files a publisher controls (file names, evidence, card text): every
string goes through :func:`_text` (HTML-escaped, quotes included; control and bidirectional
formatting characters made visible), and the one data island the script reads is JSON with
``<``, ``>``, ``&`` and U+2028/2029 escaped (:func:`json_island`). The file loads nothing: inline
CSS, an inline script, no URL in any ``src`` or ``href`` but the document's own anchors. The
matrix is static HTML (the browser's parser is the fast path for thousands of rows); the script
only toggles the ``hidden`` attribute of rows, once per row per filter change.
"""

from __future__ import annotations

import base64
import hashlib
import json
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mlsupply.reports.matrix import NOTE_MARK
from pytest_mlsupply.reports.outputs import ReportError

if TYPE_CHECKING:
    from pytest_mlsupply.manifest.model import Manifest
    from pytest_mlsupply.plugin.settings import Settings
    from pytest_mlsupply.reports.outputs import ReportInputs

MATRIX_SCHEMA = "mlsupply-matrix/1"
#: Verdicts the report knows, in the order the matrix orders them (worst first); any other
#: verdict a newer matrix carries (``accepted``) is shown as written, in a neutral style.
KNOWN_VERDICTS = ("fail", "error", "warn", "accepted", "pass", "skipped", "not run")
SEVERITIES = ("critical", "high", "medium", "low", "info")
KIND_TITLES = {
    "artifact": "Artifacts",
    "dependency": "Dependencies",
    "provenance": "Provenance",
    "code": "Code",
    "drift": "Hub drift",
}
ROW_HEADERS = {
    "artifact": "model file",
    "dependency": "dependency",
    "provenance": "model or dataset",
    "code": "code file",
    "drift": "model",
}
#: A row or finding without findings still passes the severity filter under this token.
NO_FINDINGS = "none"
_MARKS = {
    "pass": "\u2713",
    "fail": "\u2717",
    "warn": "!",
    "error": "\u26a0",
    "not run": "\u2026",
    "skipped": "\u2013",
    "accepted": "~",
}


def render_html(matrix: Mapping[str, Any], bom: Mapping[str, Any]) -> str:
    """The report for one gate run. Raises :class:`ReportError` when a document is not one the
    report can read (naming the field)."""
    check_matrix_document(matrix, "the matrix document")
    check_bom_document(bom, "the BOM document")
    try:
        return _Page(matrix, bom).render()
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ReportError(
            f"cannot render the HTML report: a field of the matrix or BOM document has an "
            f"unexpected shape ({exc!r}); rebuild both with the same pytest-mlsupply version"
        ) from exc


def check_matrix_document(document: object, name: str) -> None:
    if not isinstance(document, dict) or document.get("schema") != MATRIX_SCHEMA:
        found = document.get("schema") if isinstance(document, dict) else type(document).__name__
        raise ReportError(
            f"{name} is not a pytest-mlsupply matrix (schema {found!r}, expected "
            f"{MATRIX_SCHEMA!r}): give the <matrix>.json a gate wrote (--mlsupply-matrix PATH "
            f"writes PATH.json; default build/mlsupply-matrix.json)"
        )


def check_bom_document(document: object, name: str) -> None:
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        raise ReportError(
            f'{name} is not a CycloneDX JSON BOM (no "bomFormat": "CycloneDX"): give the '
            f"JSON ML-BOM a gate wrote (default build/ml-bom.cdx.json; not the XML form)"
        )


def html_paths(settings: Settings, manifest: Manifest) -> list[Path]:
    """Where the report goes: ``--mlsupply-html``, ini ``mlsupply_html``, else the manifest's
    ``output.html`` (none when neither asks for one)."""
    path = settings.html or manifest.output.html
    return [] if path is None else [path]


def write_html(inputs: ReportInputs) -> list[tuple[Path, str]]:
    """The :mod:`.outputs` writer: the report, when ``--mlsupply-html``, ini ``mlsupply_html``
    or the manifest's ``output.html`` asks for one."""
    return [
        (path, render_html(inputs.matrix_document, inputs.bom_document))
        for path in html_paths(inputs.settings, inputs.manifest)
    ]


def json_island(data: object) -> str:
    """JSON that cannot end its ``<script>`` element nor open a comment or CDATA in it: ASCII
    only (U+2028, U+2029 and bidirectional controls escaped too, so the text stays valid
    wherever a JavaScript parser meets it and shows nothing in a view of the source)."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    for raw, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(raw, escaped)
    return text


def _text(value: object) -> str:
    """Untrusted text for an element's content or an attribute value: escaped (quotes too), and
    with control and bidirectional formatting characters shown as ``U+XXXX`` so a name cannot
    reorder what is printed after it or hide part of itself."""
    raw = "" if value is None else str(value)
    out: list[str] = []
    for char in raw:
        if char in "\n\t":
            out.append(char)
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            out.append(f"\u27e8U+{ord(char):04X}\u27e9")
        else:
            out.append(char)
    return escape("".join(out), quote=True)


def _verdict_class(verdict: str) -> str:
    return "v-" + verdict.replace(" ", "-") if verdict in KNOWN_VERDICTS else "v-other"


def _verdict_cell(verdict: str, note: str | None = None) -> str:
    """A matrix cell: mark, colour and verdict word; a passing cell with a note (``not
    pinned``) reads the note instead, as the Markdown matrix does, so an unpinned file never
    looks like a verified pin."""
    if note and verdict == "pass":
        return (
            f'<td class="v v-note" title="pass: {_text(note)}">'
            f'<span aria-hidden="true">{NOTE_MARK}</span> {_text(note)}</td>'
        )
    mark = _MARKS.get(verdict, "\u2022")
    return (
        f'<td class="v {_verdict_class(verdict)}">'
        f'<span aria-hidden="true">{mark}</span> {_text(verdict)}</td>'
    )


def _strings(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


class _Tokens:
    """Filter values as small integers, so a data attribute never holds untrusted text."""

    def __init__(self, known: Iterable[str]) -> None:
        self.order: list[str] = []
        for value in known:
            self.token(value)

    def token(self, value: str) -> int:
        if value not in self.order:
            self.order.append(value)
        return self.order.index(value)

    def tokens(self, values: Iterable[str]) -> str:
        return " ".join(str(t) for t in sorted({self.token(v) for v in values}))


class _Page:
    def __init__(self, matrix: Mapping[str, Any], bom: Mapping[str, Any]) -> None:
        self.matrix = matrix
        self.bom = bom
        # Blocking findings first, worst first: what failed the gate is what a reader needs.
        self.findings: list[dict[str, Any]] = sorted(
            (f for f in matrix.get("findings", []) if isinstance(f, dict)),
            key=lambda f: (
                not f.get("blocking"),
                _rank(SEVERITIES, str(f.get("severity"))),
                _rank(tuple(KIND_TITLES), str(f.get("kind"))),
            ),
        )
        self.errors: list[dict[str, Any]] = [
            e for e in matrix.get("errors", []) if isinstance(e, dict)
        ]
        rows = [r for r in matrix.get("rows", []) if isinstance(r, dict)]
        self.rows = rows
        counts = matrix.get("counts") or {}
        seen_verdicts = [str(v) for r in rows for v in (r.get("cells") or {}).values()]
        self.verdicts = _Tokens(
            [v for v in KNOWN_VERDICTS if counts.get(v) or v in seen_verdicts]
            + sorted({str(v) for v in counts if counts[v]} | set(seen_verdicts))
        )
        kinds = [str(r.get("kind")) for r in rows]
        self.kinds = _Tokens(
            [k for k in KIND_TITLES if k in kinds] + sorted(set(kinds) - set(KIND_TITLES))
        )
        severities = {str(f.get("severity")) for f in self.findings}
        self.severities = _Tokens(
            [s for s in SEVERITIES if s in severities]
            + sorted(severities - set(SEVERITIES))
            + [NO_FINDINGS]
        )
        self.by_subject: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for finding in self.findings:
            key = (str(finding.get("kind")), str(finding.get("subject")))
            self.by_subject.setdefault(key, []).append(finding)
        self.cell_verdicts: dict[tuple[str, str, str], str] = {
            (str(r.get("kind")), str(r.get("subject")), str(check)): str(verdict)
            for r in rows
            for check, verdict in (r.get("cells") or {}).items()
        }

    # --- the page ---------------------------------------------------------------------------

    def render(self) -> str:
        project = self._project()
        title = f"pytest-mlsupply report: {project}"
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            # Nothing may load (a script, a font, an image, a frame) and nothing may run but
            # the report's own script and style, named by their hashes: were a name ever to
            # escape the escaping, its inline handler or <script> would not run.
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            f"<title>{_text(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            *self._header(project),
            "<main>",
            *self._attention(),
            *self._filters(),
            *self._matrix(),
            *self._findings(),
            *self._errors(),
            *self._declared(),
            *self._lineage(),
            *self._vulnerabilities(),
            *self._bom_summary(),
            *self._legend(),
            "</main>",
            '<script type="application/json" id="mlsupply-data">'
            + json_island(self._island())
            + "</script>",
            f"<script>{_SCRIPT}</script>",
            "</body>",
            "</html>",
        ]
        return "\n".join(parts) + "\n"

    def _project(self) -> str:
        component = (self.bom.get("metadata") or {}).get("component") or {}
        name = str(component.get("name") or "project")
        version = component.get("version")
        return f"{name} {version}" if version else name

    def _island(self) -> dict[str, Any]:
        return {
            "project": self._project(),
            "filters": {
                "verdict": self.verdicts.order,
                "severity": self.severities.order,
                "kind": self.kinds.order,
            },
        }

    def _header(self, project: str) -> Iterator[str]:
        counts = self.matrix.get("counts") or {}
        failed = bool(counts.get("fail") or counts.get("error"))
        # A partial run that passed passed only what it ran: never the release's green PASS.
        partial = not failed and (self.matrix.get("partial") is True or bool(counts.get("not run")))
        verdict = "FAIL" if failed else "INCOMPLETE" if partial else "PASS"
        gate_class = "gate-fail" if failed else "gate-partial" if partial else "gate-pass"
        threshold = self.matrix.get("threshold", "")
        yield '<header class="top">'
        yield (
            f'<h1><span class="gate {gate_class}" id="gate">{verdict}</span> {_text(project)}</h1>'
        )
        yield (
            f'<p class="sub">pytest-mlsupply supply-chain report · findings of severity '
            f"<strong>{_text(threshold)}</strong> or above fail their cell</p>"
        )
        if self.matrix.get("partial") is True:
            not_run = self.matrix.get("not_run_items")
            missing = (
                f"{len(not_run)} planned item(s) did not run"
                if isinstance(not_run, list)
                else "only some of the planned items ran"
            )
            yield (
                f'<p class="partial" role="note"><strong>Partial run:</strong> {missing} '
                "(-k, --lf, --deselect or a stop); this report is not the release's full "
                "picture.</p>"
            )
        yield '<nav class="counts" aria-label="verdict counts (click one to show only it)">'
        for verdict in self.verdicts.order:
            token = self.verdicts.token(verdict)
            count = counts.get(verdict, 0)
            yield (
                f'<button type="button" class="count {_verdict_class(verdict)}" '
                f'data-only="verdict" data-token="{token}" '
                f'title="show only {_text(verdict)} rows">'
                f"<strong>{_text(count)}</strong> {_text(verdict)}</button>"
            )
        yield "</nav>"
        facts = self._facts()
        if facts:
            yield '<dl class="facts">'
            for key, value in facts:
                yield f"<div><dt>{_text(key)}</dt><dd>{_text(value)}</dd></div>"
            yield "</dl>"
        yield "</header>"

    def _facts(self) -> list[tuple[str, str]]:
        """The heading's facts: where the run was made (the matrix's ``metadata``) and which
        BOM it goes with; the project and version are in the title already."""
        metadata = self.bom.get("metadata") or {}
        extra = self.matrix.get("metadata")
        made: dict[str, Any] = dict(extra) if isinstance(extra, dict) else {}
        out: list[tuple[str, str]] = []
        commit = made.pop("commit", None)
        dirty = made.pop("dirty", None)
        if commit:
            out.append(("commit", _plain(commit) + (" (uncommitted changes)" if dirty else "")))
        elif extra is not None:
            out.append(("commit", "unknown (not a git checkout)"))
        for key, label in (("repository", "repository"), ("ci_run_url", "CI run")):
            if made.get(key):
                out.append((label, _plain(made.pop(key))))
        serial = made.pop("bom_serial_number", None) or self.bom.get("serialNumber")
        if serial:
            out.append(("BOM serial", _plain(serial)))
        when = made.pop("timestamp", None) or metadata.get("timestamp")
        if when:
            out.append(("time", _plain(when)))
        for key in ("project", "version", "not_run"):
            made.pop(key, None)
        # A key a newer matrix adds is shown as written rather than dropped.
        out += [(str(k), _plain(v)) for k, v in sorted(made.items()) if v not in (None, "")]
        for prop in metadata.get("properties") or []:
            if isinstance(prop, dict):
                out.append((str(prop.get("name")), str(prop.get("value"))))
        return out

    def _attention(self) -> Iterator[str]:
        """The failing and errored cells first, each with links to its blocking findings."""
        anchors: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
        for number, finding in enumerate(self.findings):
            if finding.get("blocking"):
                key = (
                    str(finding.get("kind")),
                    str(finding.get("subject")),
                    str(finding.get("check")),
                )
                anchors.setdefault(key, []).append((number, str(finding.get("rule"))))
        failing = [
            (key, verdict)
            for key, verdict in self.cell_verdicts.items()
            if verdict in ("fail", "error")
        ]
        if not failing:
            return
        yield f'<section id="attention"><h2>Needs attention ({len(failing)} cells)</h2><ul>'
        for (kind, subject, check), verdict in failing:
            links = ", ".join(
                f'<a href="#f{number}"><code>{_text(rule)}</code></a>'
                for number, rule in anchors.get((kind, subject, check), [])
            )
            yield (
                f"<li>{_verdict_badge(verdict)} <code>{_text(subject)}</code> · check "
                f"<code>{_text(check)}</code> ({_text(kind)})"
                + (f": {links}" if links else "")
                + "</li>"
            )
        yield "</ul></section>"

    def _filters(self) -> Iterator[str]:
        yield '<section class="filters" aria-label="filters">'
        yield '<form id="filters" onsubmit="return false">'
        for group, title, tokens in (
            ("verdict", "Verdict", self.verdicts),
            ("severity", "Severity", self.severities),
            ("kind", "Kind", self.kinds),
        ):
            yield f'<fieldset data-group="{group}"><legend>{title}</legend>'
            for value in tokens.order:
                token = tokens.token(value)
                label = "no findings" if group == "severity" and value == NO_FINDINGS else value
                yield (
                    f'<label><input type="checkbox" name="{group}" value="{token}" checked> '
                    f"{_text(label)}</label>"
                )
            yield (f'<button type="button" class="all" data-all="{group}">all</button></fieldset>')
        yield "</form>"
        yield '<p id="shown" role="status" aria-live="polite"></p>'
        yield "</section>"

    def _matrix(self) -> Iterator[str]:
        columns = self.matrix.get("columns") or {}
        yield '<section id="matrix"><h2>Matrix</h2>'
        if not self.rows:
            yield "<p>No supply-chain checks were planned.</p>"
        for kind in self.kinds.order:
            checks = _strings(columns.get(kind))
            rows = [r for r in self.rows if str(r.get("kind")) == kind]
            title = KIND_TITLES.get(kind, kind)
            yield '<div class="scroll">'
            yield f'<table class="matrix" data-kind="{self.kinds.token(kind)}">'
            yield f"<caption>{_text(title)} ({len(rows)})</caption>"
            head = "".join(f'<th scope="col">{_text(c)}</th>' for c in checks)
            yield (
                f'<thead><tr><th scope="col">{_text(ROW_HEADERS.get(kind, kind))}</th>'
                f"{head}</tr></thead>"
            )
            yield "<tbody>"
            for row in rows:
                cells = row.get("cells") or {}
                notes = row.get("notes")
                notes = notes if isinstance(notes, dict) else {}
                subject = str(row.get("subject"))
                findings = self.by_subject.get((kind, subject), [])
                severities = [str(f.get("severity")) for f in findings] or [NO_FINDINGS]
                body = "".join(
                    _verdict_cell(str(cells[check]), _note(notes.get(check)))
                    if check in cells
                    else '<td class="na">n/a</td>'
                    for check in checks
                )
                yield (
                    f'<tr data-v="{self.verdicts.tokens(str(v) for v in cells.values())}" '
                    f'data-s="{self.severities.tokens(severities)}" '
                    f'data-k="{self.kinds.token(kind)}">'
                    f'<th scope="row"><code>{_text(subject)}</code></th>{body}</tr>'
                )
            yield "</tbody></table></div>"
        yield "</section>"

    def _findings(self) -> Iterator[str]:
        blocking = sum(1 for f in self.findings if f.get("blocking"))
        yield (
            f'<section id="findings"><h2>Findings ({len(self.findings)}, '
            f"{blocking} at or above the threshold)</h2>"
        )
        if not self.findings:
            yield "<p>No check reported a finding.</p>"
        for number, finding in enumerate(self.findings):
            kind, subject = str(finding.get("kind")), str(finding.get("subject"))
            check = str(finding.get("check"))
            severity = str(finding.get("severity"))
            verdict = self.cell_verdicts.get((kind, subject, check), "")
            rule = _text(finding.get("rule"))
            cwe = finding.get("cwe")
            accepted = finding.get("accepted")
            accepted = accepted if isinstance(accepted, dict) else None
            yield (
                f'<article class="finding sev-{_severity_class(severity)}" id="f{number}" '
                f'data-v="{self.verdicts.tokens([verdict] if verdict else [])}" '
                f'data-s="{self.severities.tokens([severity])}" '
                f'data-k="{self.kinds.token(kind)}">'
            )
            yield (
                f'<h3><span class="sev">{_text(severity.upper())}</span> '
                f'<code class="rule">{rule}</code> {_text(finding.get("title"))}'
                + (' <span class="blocking">blocking</span>' if finding.get("blocking") else "")
                + (' <span class="accepted">accepted</span>' if accepted else "")
                + "</h3>"
            )
            yield "<dl>"
            yield (
                f"<dt>where</dt><dd><code>{_text(subject)}</code> · check "
                f"<code>{_text(check)}</code> ({_text(kind)})"
                + (f" · cell {_verdict_badge(verdict)}" if verdict else "")
                + "</dd>"
            )
            yield f"<dt>location</dt><dd>{_text(_location(finding.get('location')))}</dd>"
            if finding.get("evidence"):
                yield f"<dt>evidence</dt><dd><pre>{_text(finding['evidence'])}</pre></dd>"
            if finding.get("why"):
                yield f"<dt>why it matters</dt><dd>{_text(finding['why'])}</dd>"
            if finding.get("remediation"):
                yield f'<dt>fix</dt><dd class="fix">{_text(finding["remediation"])}</dd>'
            if cwe:
                yield f"<dt>CWE</dt><dd>{_text(cwe)}</dd>"
            if accepted is not None:
                # Who is trusting this finding, until when and why: a reviewer's question.
                if not accepted.get("expires"):  # an inline suppression comment
                    yield (
                        f"<dt>suppressed</dt><dd>in the source "
                        f"({_text(accepted.get('source'))}): {_text(accepted.get('reason'))}</dd>"
                    )
                else:
                    yield (
                        f"<dt>accepted</dt><dd>by {_text(accepted.get('owner'))} until "
                        f"{_text(accepted.get('expires'))}: {_text(accepted.get('reason'))}"
                        + (f" ({_text(accepted['source'])})" if accepted.get("source") else "")
                        + "</dd>"
                    )
            yield "</dl></article>"
        yield "</section>"

    def _errors(self) -> Iterator[str]:
        if not self.errors:
            return
        yield f'<section id="errors"><h2>Errors ({len(self.errors)}): not a pass</h2><ul>'
        for error in self.errors:
            yield (
                f"<li><code>{_text(error.get('subject'))}</code>, check "
                f"<code>{_text(error.get('check'))}</code> ({_text(error.get('kind'))}): "
                f"{_text(error.get('error'))}</li>"
            )
        yield "</ul></section>"

    def _declared(self) -> Iterator[str]:
        declared = [d for d in self.matrix.get("declared_not_checked") or [] if isinstance(d, dict)]
        if not declared:
            return
        yield (
            '<section id="declared"><h2>Declared, not checked</h2><p>The manifest declares '
            "these, but no check reads them yet: they are not verified.</p><ul>"
        )
        for item in declared:
            where = f" ({_text(item['where'])})" if item.get("where") else ""
            yield (
                f"<li><code>{_text(item.get('key'))}</code>{where}: "
                f"{_text(item.get('meaning'))}</li>"
            )
        yield "</ul></section>"

    def _lineage(self) -> Iterator[str]:
        models = [
            c
            for c in self.bom.get("components") or []
            if isinstance(c, dict) and c.get("type") == "machine-learning-model"
        ]
        yield '<section id="lineage"><h2>Lineage</h2>'
        if not models:
            yield "<p>The BOM lists no model.</p>"
        by_name = {str(m.get("name")): m for m in models}
        for model in models:
            yield _lineage_svg(model, by_name)
        yield "</section>"

    def _vulnerabilities(self) -> Iterator[str]:
        found = [v for v in self.bom.get("vulnerabilities") or [] if isinstance(v, dict)]
        names = _component_names(self.bom)
        yield f'<section id="vulnerabilities"><h2>Dependency vulnerabilities ({len(found)})</h2>'
        if not found:
            yield "<p>The BOM records no known vulnerability in the dependencies.</p>"
            yield "</section>"
            return
        yield '<div class="scroll"><table class="vulns"><caption>Known vulnerabilities</caption>'
        yield (
            '<thead><tr><th scope="col">id</th><th scope="col">affects</th>'
            '<th scope="col">severity</th><th scope="col">fixed versions (fix)</th>'
            '<th scope="col">summary</th></tr></thead><tbody>'
        )
        for vuln in found:
            affects = []
            for target in vuln.get("affects") or []:
                ref = str(target.get("ref"))
                versions = ", ".join(
                    str(v.get("version")) for v in target.get("versions") or [] if v.get("version")
                )
                affects.append(f"{names.get(ref, ref)} {versions}".strip())
            severities = sorted(
                {str(r.get("severity")) for r in vuln.get("ratings") or [] if r.get("severity")}
            )
            aliases = [str(r.get("id")) for r in vuln.get("references") or [] if r.get("id")]
            ident = _text(vuln.get("id")) + (
                f'<br><span class="muted">{_text(", ".join(aliases))}</span>' if aliases else ""
            )
            summary = vuln.get("description") or vuln.get("detail") or ""
            yield (
                f'<tr><th scope="row">{ident}</th><td>{_text("; ".join(affects))}</td>'
                f"<td>{_text(', '.join(severities) or 'unrated')}</td>"
                f'<td class="fix">{_text(vuln.get("recommendation") or "none known")}</td>'
                f"<td>{_text(summary)}</td></tr>"
            )
        yield "</tbody></table></div></section>"

    def _bom_summary(self) -> Iterator[str]:
        metadata = self.bom.get("metadata") or {}
        by_type: dict[str, int] = {}
        hashes: list[tuple[str, str, str]] = []
        for path, component in _walk(self.bom.get("components") or [], ()):
            kind = str(component.get("type"))
            by_type[kind] = by_type.get(kind, 0) + 1
            for digest in component.get("hashes") or []:
                hashes.append(
                    (" / ".join(path), str(digest.get("alg")), str(digest.get("content")))
                )
        tools = (metadata.get("tools") or {}).get("components") or []
        tool = ", ".join(f"{t.get('name')} {t.get('version', '')}".strip() for t in tools)
        yield '<section id="bom"><h2>ML-BOM</h2><dl class="facts">'
        rows = [
            ("serial number", self.bom.get("serialNumber", "")),
            ("timestamp", metadata.get("timestamp", "")),
            ("format", f"CycloneDX {self.bom.get('specVersion', '?')}"),
            ("written by", tool),
        ]
        for key, value in rows:
            yield f"<div><dt>{_text(key)}</dt><dd>{_text(value)}</dd></div>"
        yield "</dl>"
        yield '<table class="types"><caption>Components by type</caption>'
        yield '<thead><tr><th scope="col">type</th><th scope="col">count</th></tr></thead><tbody>'
        for kind, count in sorted(by_type.items()):
            yield f'<tr><th scope="row">{_text(kind)}</th><td>{count}</td></tr>'
        yield "</tbody></table>"
        yield f"<details><summary>Hashes ({len(hashes)})</summary>"
        yield '<div class="scroll"><table class="hashes"><caption>Component hashes</caption>'
        yield (
            '<thead><tr><th scope="col">component</th><th scope="col">algorithm</th>'
            '<th scope="col">digest</th></tr></thead><tbody>'
        )
        for name, alg, content in hashes:
            yield (
                f'<tr><th scope="row"><code>{_text(name)}</code></th><td>{_text(alg)}</td>'
                f"<td><code>{_text(content)}</code></td></tr>"
            )
        yield "</tbody></table></div></details></section>"

    def _legend(self) -> Iterator[str]:
        yield '<section id="legend"><h2>Legend</h2><ul class="legend">'
        for verdict, meaning in _LEGEND:
            yield f"<li>{_verdict_badge(verdict)} {_text(meaning)}</li>"
        yield (
            f'<li><span aria-hidden="true">{NOTE_MARK}</span> not pinned: the file passed its '
            "checks but has no sha256 pin in the manifest, so nothing proves it is the file that "
            "was reviewed (counted as a pass)</li>"
        )
        yield '<li><span class="na">n/a</span> the check does not apply to this row</li>'
        yield "</ul></section>"


_LEGEND = (
    ("pass", "the check ran and found nothing beyond informational notes"),
    ("fail", "the check found at least one problem at or above the threshold"),
    ("warn", "the check found problems below the threshold"),
    ("error", "the check could not run to completion; this is not a pass"),
    ("not run", "the check was planned but no result arrived (deselected, or its worker died)"),
    ("skipped", "the dependency does not apply to this interpreter; nothing was checked"),
    ("accepted", "a finding the baseline file accepts, with a reason, an owner and an expiry"),
)


def _note(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _verdict_badge(verdict: str) -> str:
    mark = _MARKS.get(verdict, "\u2022")
    return (
        f'<span class="badge {_verdict_class(verdict)}"><span aria-hidden="true">{mark}</span> '
        f"{_text(verdict)}</span>"
    )


def _rank(order: Sequence[str], value: str) -> int:
    return order.index(value) if value in order else len(order)


def _severity_class(severity: str) -> str:
    return severity if severity in SEVERITIES else "other"


def _plain(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _location(location: object) -> str:
    if not isinstance(location, dict) or not location:
        return "(whole subject)"
    parts: list[str] = []
    if location.get("file"):
        parts.append(str(location["file"]))
    if location.get("member"):
        parts.append(f"member {location['member']}")
    if location.get("offset") is not None:
        parts.append(f"byte {location['offset']}")
    if location.get("key_path"):
        parts.append(f"key {location['key_path']}")
    if location.get("cell") is not None:
        parts.append(f"cell {location['cell']}")
    if location.get("line") is not None:
        parts.append(f"line {location['line']}")
    if location.get("column") is not None:
        parts.append(f"column {location['column']}")
    return ", ".join(parts) or "(whole subject)"


def _walk(
    components: Sequence[Any], path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    for component in components:
        if not isinstance(component, dict):
            continue
        here = (*path, str(component.get("name")))
        yield here, component
        yield from _walk(component.get("components") or [], here)


def _component_names(bom: Mapping[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    for _, component in _walk(bom.get("components") or [], ()):
        ref = component.get("bom-ref")
        if ref:
            names[str(ref)] = str(component.get("name"))
    return names


# --- lineage -----------------------------------------------------------------------------------

_NODE_W, _NODE_H, _GAP_X, _GAP_Y, _PAD = 210, 50, 56, 14, 8


def _lineage_levels(
    model: Mapping[str, Any], by_name: Mapping[str, Mapping[str, Any]]
) -> list[list[tuple[Mapping[str, Any], int]]]:
    """The model (level 0) and its ancestors by depth, each with the index of its child in the
    level before. An ancestor named like another model of the BOM with no pedigree of its own
    (a local base model) continues with that model's pedigree."""
    levels: list[list[tuple[Mapping[str, Any], int]]] = [[(model, -1)]]
    seen = {str(model.get("name"))}
    while True:
        nxt: list[tuple[Mapping[str, Any], int]] = []
        for index, (node, _) in enumerate(levels[-1]):
            pedigree = node.get("pedigree")
            if not isinstance(pedigree, dict) and node is not model:
                local = by_name.get(str(node.get("name")))
                pedigree = local.get("pedigree") if local is not None else None
            for ancestor in (pedigree or {}).get("ancestors") or []:
                if not isinstance(ancestor, dict):
                    continue
                key = str(ancestor.get("name"))
                if key in seen or len(levels) > 32:
                    continue  # a loop in hand-edited lineage: draw each model once
                seen.add(key)
                nxt.append((ancestor, index))
        if not nxt:
            return levels
        levels.append(nxt)


def _lineage_svg(model: Mapping[str, Any], by_name: Mapping[str, Mapping[str, Any]]) -> str:
    levels = _lineage_levels(model, by_name)
    depth = len(levels)
    tallest = max(len(level) for level in levels)
    width = depth * _NODE_W + (depth - 1) * _GAP_X + 2 * _PAD
    height = tallest * _NODE_H + (tallest - 1) * _GAP_Y + 2 * _PAD
    name = str(model.get("name"))

    def position(level: int, index: int) -> tuple[int, int]:
        # The base model leftmost, the model itself rightmost: read left to right as derivation.
        x = _PAD + (depth - 1 - level) * (_NODE_W + _GAP_X)
        y = _PAD + index * (_NODE_H + _GAP_Y)
        return x, y

    chain = " \u2192 ".join(str(levels[i][0][0].get("name")) for i in reversed(range(depth)))
    summary = (
        f"Lineage of {name}: {chain}" if depth > 1 else f"Lineage of {name}: no recorded ancestor"
    )
    out = [
        f'<figure class="lineage"><svg role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{_text(summary)}">',
        f"<title>{_text(summary)}</title>",
    ]
    for level in range(1, depth):
        for index, (_, child) in enumerate(levels[level]):
            x, y = position(level, index)
            cx, cy = position(level - 1, child)
            out.append(
                f'<line class="edge" x1="{x + _NODE_W}" y1="{y + _NODE_H // 2}" '
                f'x2="{cx - 4}" y2="{cy + _NODE_H // 2}"/>'
                f'<polygon class="arrow" points="{cx},{cy + _NODE_H // 2} {cx - 9},'
                f'{cy + _NODE_H // 2 - 5} {cx - 9},{cy + _NODE_H // 2 + 5}"/>'
            )
    for level in range(depth):
        for index, (node, _) in enumerate(levels[level]):
            x, y = position(level, index)
            role = "this model" if level == 0 else ("base" if level == depth - 1 else "parent")
            label = str(node.get("name"))
            version = node.get("version")
            detail = f"{role} @ {str(version)[:12]}" if version else role
            out.append(
                f'<g class="node{" self" if level == 0 else ""}" data-name="{_text(label)}">'
                f"<title>{_text(label)}{_text(' @ ' + str(version)) if version else ''}</title>"
                f'<rect x="{x}" y="{y}" width="{_NODE_W}" height="{_NODE_H}" rx="6"/>'
                f'<text x="{x + 10}" y="{y + 21}" class="n">{_text(_clip(label, 23))}</text>'
                f'<text x="{x + 10}" y="{y + 39}" class="d">{_text(detail)}</text></g>'
            )
    out.append("</svg>")
    out.append(f"<figcaption>{_text(summary)}</figcaption></figure>")
    return "".join(out)


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "\u2026"


# --- style and script --------------------------------------------------------------------------

# Colours chosen for contrast on white (WCAG AA for the text on each fill); every verdict also
# carries a mark and its word, so the matrix reads in greyscale and to a screen reader.
_CSS = """
:root{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24}
body{margin:0;background:#f6f7f9}
main{padding:0 1.5rem 3rem;max-width:1400px}
header.top{background:#fff;border-bottom:1px solid #d5d9de;padding:1rem 1.5rem .6rem}
h1{margin:0;font-size:1.5rem}h2{font-size:1.2rem;margin:1.6rem 0 .5rem}
h3{font-size:1rem;margin:0 0 .4rem}
.sub{margin:.2rem 0 .6rem;color:#4a525c}
.gate{display:inline-block;padding:.1rem .6rem;border-radius:4px;color:#fff;letter-spacing:.05em}
.gate-fail{background:#b3261e}.gate-pass{background:#1e6b34}.gate-partial{background:#8a5a00}
.partial{background:#fff4ce;border:1px solid #c9a227;padding:.4rem .7rem;border-radius:4px}
.counts{display:flex;flex-wrap:wrap;gap:.4rem;margin:.4rem 0}
.count{border:1px solid #9aa3ad;border-radius:4px;padding:.25rem .6rem;font:inherit;cursor:pointer}
.count strong{font-size:1.15em}
.facts{display:flex;flex-wrap:wrap;gap:.2rem 1.4rem;margin:.5rem 0 0;font-size:.9em}
.facts dt{display:inline;color:#4a525c}.facts dt::after{content:": "}
.facts dd{display:inline;margin:0;font-family:ui-monospace,monospace;overflow-wrap:anywhere}
.filters{position:sticky;top:0;z-index:2;background:#f6f7f9;padding:.6rem 0;
border-bottom:1px solid #d5d9de}
.filters form{display:flex;flex-wrap:wrap;gap:.6rem}
fieldset{border:1px solid #c5cbd2;border-radius:4px;padding:.2rem .6rem;margin:0;background:#fff}
legend{font-weight:600;padding:0 .2rem}
fieldset label{margin-right:.7rem;white-space:nowrap}
button.all{font:inherit;font-size:.85em}
#shown{margin:.4rem 0 0;color:#4a525c}
.scroll{overflow-x:auto}
table{border-collapse:collapse;background:#fff;margin:.3rem 0 1rem}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid #d5d9de;padding:.25rem .5rem;text-align:left;vertical-align:top}
thead th{background:#eef0f3;position:sticky;top:0}
tbody th{font-weight:normal;max-width:42rem;overflow-wrap:anywhere}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:0;background:#f3f4f6;padding:.3rem .5rem}
td.v,.badge{font-weight:600;white-space:nowrap}
.badge,.count{display:inline-block}.badge{padding:0 .4rem;border-radius:3px}
.v-pass{background:#dcf3e3;color:#14532d}.v-fail{background:#fbd9d6;color:#7f1d1d}
.v-warn{background:#fdf0c4;color:#6b4500}.v-error{background:#ecdcf7;color:#4c1d6e}
.v-not-run,.v-skipped{background:#e6e8eb;color:#30363d}
.v-accepted{background:#dbe9fb;color:#173d73}.v-other{background:#fff;color:#1b1f24}
.v-note{background:#f3eadb;color:#5c3d0a}
td.na,span.na{color:#6a737d}
[hidden]{display:none!important}
.finding{background:#fff;border:1px solid #d5d9de;border-left:6px solid #9aa3ad;
border-radius:4px;padding:.6rem .8rem;margin:.5rem 0;
content-visibility:auto;contain-intrinsic-size:auto 9rem}
.sev-critical{border-left-color:#7f1d1d}.sev-high{border-left-color:#b3261e}
.sev-medium{border-left-color:#b26a00}.sev-low{border-left-color:#5d6b7a}
.sev{font-size:.8em;border:1px solid currentColor;border-radius:3px;padding:0 .3rem}
.blocking{font-size:.8em;background:#b3261e;color:#fff;border-radius:3px;padding:0 .3rem}
.accepted{font-size:.8em;background:#173d73;color:#fff;border-radius:3px;padding:0 .3rem}
.finding dl{display:grid;grid-template-columns:9rem 1fr;gap:.2rem .8rem;margin:0}
.finding dt{color:#4a525c}.finding dd{margin:0;overflow-wrap:anywhere}
.fix{color:#0b4a2a}
#lineage{display:flex;flex-wrap:wrap;gap:0 1.2rem;align-items:flex-start}
#lineage h2{flex-basis:100%}
#attention ul{margin:.2rem 0;padding-left:1.2rem}
.lineage{margin:.5rem 0 1rem}.lineage figcaption{color:#4a525c;font-size:.9em}
.lineage svg{background:#fff;border:1px solid #d5d9de;border-radius:4px;max-width:100%;height:auto}
.node rect{fill:#eef2f7;stroke:#5d6b7a}.node.self rect{fill:#dbe9fb;stroke:#173d73;stroke-width:2}
.node .n{font:600 13px ui-monospace,monospace;fill:#1b1f24}.node .d{font:12px sans-serif;fill:#4a525c}
.edge{stroke:#5d6b7a;stroke-width:2}.arrow{fill:#5d6b7a}
.muted{color:#4a525c;font-size:.9em}
.legend{list-style:none;padding:0}.legend li{margin:.2rem 0}
"""

# The filter: every row and finding carries its verdict, severity and kind tokens (small
# integers); a change walks them once and sets `hidden` where it changes (the first pass, with
# everything ticked, writes nothing). No HTML is built from data here.
_SCRIPT = """
(function(){
"use strict";
var data=JSON.parse(document.getElementById("mlsupply-data").textContent);
var form=document.getElementById("filters");
var items=document.querySelectorAll("tr[data-v],article[data-v]");
var groups=["verdict","severity","kind"],attrs={verdict:"v",severity:"s",kind:"k"};
function chosen(group){
  var set={},boxes=form.querySelectorAll("input[name="+group+"]");
  for(var i=0;i<boxes.length;i++){if(boxes[i].checked){set[boxes[i].value]=true;}}
  return set;
}
function any(tokens,set){
  if(tokens===""){return true;}
  var parts=tokens.split(" ");
  for(var i=0;i<parts.length;i++){if(set[parts[i]]){return true;}}
  return false;
}
function apply(){
  var sets={},shownRows=0,rows=0,shownFindings=0,findings=0;
  for(var g=0;g<groups.length;g++){sets[groups[g]]=chosen(groups[g]);}
  for(var i=0;i<items.length;i++){
    var el=items[i],ok=true;
    for(var j=0;j<groups.length&&ok;j++){
      ok=any(el.getAttribute("data-"+attrs[groups[j]]),sets[groups[j]]);
    }
    if(el.hidden===ok){el.hidden=!ok;}
    if(el.tagName==="TR"){rows++;if(ok){shownRows++;}}else{findings++;if(ok){shownFindings++;}}
  }
  document.getElementById("shown").textContent="Showing "+shownRows+" of "+rows+
    " rows and "+shownFindings+" of "+findings+" findings";
}
form.addEventListener("change",apply);
var all=document.querySelectorAll("button[data-all]");
for(var a=0;a<all.length;a++){all[a].addEventListener("click",function(){
  var boxes=form.querySelectorAll("input[name="+this.getAttribute("data-all")+"]");
  for(var i=0;i<boxes.length;i++){boxes[i].checked=true;}apply();});}
var only=document.querySelectorAll("button[data-only]");
for(var o=0;o<only.length;o++){only[o].addEventListener("click",function(){
  var group=this.getAttribute("data-only"),token=this.getAttribute("data-token");
  var boxes=form.querySelectorAll("input[name="+group+"]");
  for(var i=0;i<boxes.length;i++){boxes[i].checked=boxes[i].value===token;}apply();});}
if(data.filters){apply();}
})();
"""


def _source_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


_CSP = f"default-src 'none'; style-src {_source_hash(_CSS)}; script-src {_source_hash(_SCRIPT)}"
