"""Provenance claim ``license``: the model's licence, and what it inherits, satisfies the policy.

A model's licence is the manifest's ``license:`` or, when it declares none, its card's
``license`` (``license_name`` when the card says ``other``); a card that names another licence
the table knows is judged too (the manifest cannot wish the card's terms away); a ``LICENSE``
file is only reported. The expression is judged against ``policy.licenses`` by :mod:`pytest_mlsupply.licenses`.
A model also answers for what it was built from: the datasets it declares (``datasets:``) and its
ancestors the ``lineage`` claim sees (every hop of ``lineage:``, or an adapter's
``adapter_config.json`` base) when they are themselves declared models, recursively, so an
adapter on a fine-tune of a non-commercial base is non-commercial too, and says so.

The claim is made for every model when the manifest sets ``policy.licenses``, and for a model
that declares ``license:`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_mlsupply import licenses
from pytest_mlsupply.checks.base import CheckContext, Outcome, ProvenanceCheck
from pytest_mlsupply.checks.provenance_lineage import Identity, ancestry, identify
from pytest_mlsupply.engines.model_card import CardError, read_card
from pytest_mlsupply.manifest.model import LicensePolicy
from pytest_mlsupply.results import Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.inventory import Inventory, ResolvedModel

LICENSE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "COPYING")


def bases_of(model: ResolvedModel, inventory: Inventory) -> list[ResolvedModel]:
    """The declared models among ``model``'s ancestors, nearest first.

    The ancestors are the ``lineage`` claim's (:func:`provenance_lineage.ancestry`): every hop
    of the manifest's ``lineage:``, or the base an adapter's ``adapter_config.json`` names, so
    a restriction is inherited over exactly the hops that claim judges. A Hub reference
    (``hf://org/name@rev``, a bare ``org/name`` or a huggingface.co URL) matches a declared
    model by its source repository, anything else by the declared model's name.
    """
    out: list[ResolvedModel] = []
    for ancestor in ancestry(model, inventory.models):
        found = _declared(model, ancestor, inventory)
        if found is not None and found not in out:
            out.append(found)
    return out


def base_of(model: ResolvedModel, inventory: Inventory) -> ResolvedModel | None:
    """The declared model that is ``model``'s immediate parent, if any."""
    ancestors = ancestry(model, inventory.models)
    return _declared(model, ancestors[0], inventory) if ancestors else None


def _declared(
    model: ResolvedModel, ancestor: Identity, inventory: Inventory
) -> ResolvedModel | None:
    repo = ancestor.repo or identify(ancestor.text).repo
    matches = [
        other
        for other in inventory.models
        if other.decl is not model.decl
        and repo is not None
        and other.decl.source is not None
        and other.decl.source.repo_id.lower() == repo
    ]
    # Of two releases of one repository, the one at the ancestor's revision.
    for other in matches:
        used = other.commit or (other.decl.source.revision if other.decl.source else None)
        if used and ancestor.revision and used.lower() == ancestor.revision.lower():
            return other
    if matches:
        return matches[0]
    for other in inventory.models:
        if other.decl is not model.decl and other.name == ancestor.text:
            return other
    return None


@dataclass(frozen=True)
class Declared:
    """A model's licence as the manifest, the card and the files state it."""

    manifest: str | None
    card: str | None
    file: str | None
    """A licence file in the model (``LICENSE``), relative to the model."""
    card_error: str | None = None
    file_licences: tuple[str, ...] = ()
    """The restrictive licences that file opens with (:attr:`licenses.LicenceText.opening`)."""

    @property
    def text(self) -> str | None:
        return self.manifest or self.card

    @property
    def source(self) -> str | None:
        if self.manifest:
            return "manifest"
        return "card" if self.card else None


def declared_licence(model: ResolvedModel) -> Declared:
    card: str | None = None
    card_error: str | None = None
    path = model.card_path
    if path is not None and path.is_file():
        try:
            parsed = read_card(path)
            twice = [k for k in ("license", "license_name") if k in parsed.repeated]
            if twice:
                card_error = (
                    f"the card's front matter states {twice[0]!r} twice (YAML keeps the last "
                    "value, a reader of the card sees the first)"
                )
            else:
                card = card_licence(parsed.metadata)
        except (CardError, OSError) as exc:
            # The model-card claim reports a broken card; here it only means "no card licence".
            card_error = str(exc)
    found = None
    recognised: tuple[str, ...] = ()
    if model.root is not None:
        found = next((n for n in LICENSE_FILES if (model.root / n).is_file()), None)
    if found is not None and model.root is not None:
        try:
            with (model.root / found).open("rb") as handle:
                head = handle.read(4 * licenses.TITLE_WINDOW).decode("utf-8", "replace")
        except OSError:
            head = ""
        recognised = tuple(item.key for item in licenses.identify(head).opening)
    return Declared(
        manifest=model.decl.license or None,
        card=card,
        file=found,
        card_error=card_error,
        file_licences=recognised,
    )


def card_licence(metadata: dict[str, Any]) -> str | None:
    """The licence a Hub card's front matter states, as an expression.

    ``license: other`` with ``license_name: llama3`` names the licence in ``license_name``; a
    list of licences means all of them apply.
    """
    value = metadata.get("license")
    if isinstance(value, list):
        parts = [str(v).strip() for v in value if str(v).strip()]
        value = _all_of(parts)
    if not isinstance(value, str) or not value.strip():
        return None
    name = metadata.get("license_name")
    if value.strip().lower() == "other" and isinstance(name, str) and name.strip():
        return name.strip()
    return value.strip()


def _all_of(parts: list[str]) -> str | None:
    """The ``AND`` of a card's list of licences, each part parsed on its own so that none can
    close a parenthesis or reach past its neighbours (``mit) OR (mit``); a part that does not
    parse alone is returned alone, so the claim reports it as unparseable."""
    parsed: list[str] = []
    for part in parts:
        try:
            parsed.append(str(licenses.parse(part)))
        except licenses.LicenceError:
            return part
    return " AND ".join(f"({p})" if " " in p else p for p in parsed) or None


@dataclass(frozen=True)
class Issue:
    """A reason a model fails the policy, and the chain of subjects it came through."""

    subject: str
    """``model <name>`` or ``dataset <name>``: whose licence has the problem."""
    licence: str | None
    problem: str
    kind: str
    """``not-allowed``, ``restricted``, ``unknown``, ``missing`` or ``unparseable``."""
    via: tuple[str, ...] = ()
    """The base models between the model under test and ``subject`` (nearest first)."""


@dataclass
class Assessment:
    """A model's licence under the policy, with everything it inherits."""

    declared: Declared
    verdict: licenses.Verdict | None
    own: list[Issue] = field(default_factory=list)
    card: list[Issue] = field(default_factory=list)
    """Problems of a card licence that contradicts the manifest's (a licence the table knows)."""
    file: list[Issue] = field(default_factory=list)
    """Problems of a licence the ``LICENSE`` file is the text of, that the declared one omits."""
    datasets: list[Issue] = field(default_factory=list)
    base: list[Issue] = field(default_factory=list)
    restrictions: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    """Restriction → (licence carrying it, whose licence: ``dataset reviews``, ``model base``;
    None for the model's own)."""
    base_model: str | None = None
    """The declared model it inherits from, if its ``base_model`` names one."""
    reached: set[str] = field(default_factory=set)
    """Every declared ancestor inherited from, at any depth."""
    cycle: bool = False
    undeclared: list[Issue] = field(default_factory=list)
    """A ``base_model`` that names no declared model, while unknown licences are denied: its
    licence is unknown (inherited by whatever is built on this model)."""


def _judge(
    subject: str, text: str | None, policy: LicensePolicy
) -> tuple[licenses.Verdict | None, list[Issue]]:
    if not text:
        # An allow list is exhaustive: "no licence" is not in it, whatever `unknown` says.
        if policy.unknown == "allow" and not policy.allow:
            return None, []
        return None, [Issue(subject, None, "no licence is declared", "missing")]
    try:
        verdict = licenses.evaluate(text, policy)
    except licenses.LicenceError as exc:
        return None, [Issue(subject, text, str(exc), "unparseable")]
    issues = [Issue(subject, text, p.describe(), p.kind) for p in verdict.problems]
    return verdict, issues


def assess(
    model: ResolvedModel,
    inventory: Inventory,
    policy: LicensePolicy,
    _seen: frozenset[str] = frozenset(),
) -> Assessment:
    """``model``'s licence, its datasets' and its base models' (recursively) under ``policy``."""
    declared = declared_licence(model)
    verdict, own = _judge(f"model {model.name}", declared.text, policy)
    if declared.card_error and (not declared.manifest or "twice" in declared.card_error):
        # The card is the licence's source (or states it ambiguously): unreadable is no licence.
        own = [i for i in own if i.kind != "missing"]
        own.append(Issue(f"model {model.name}", None, declared.card_error, "unparseable"))
    result = Assessment(declared=declared, verdict=verdict, own=own)
    if verdict is not None:
        for restriction, lic in verdict.restrictions:
            result.restrictions.setdefault(restriction, []).append((lic, None))
    if declared.manifest and declared.card and not _same(declared.manifest, declared.card):
        # The card is the model's own statement: a manifest cannot wish its terms away. A card
        # licence the table knows is judged too (the stricter of both applies); an unknown or
        # custom one (`license: other`, a free-form `license_name`) defers to the manifest.
        card_verdict, card_issues = _judge(f"model {model.name}", declared.card, policy)
        if card_verdict is not None:
            result.card = [i for i in card_issues if i.kind in ("not-allowed", "restricted")]
            for restriction, lic in card_verdict.restrictions:
                if lic not in card_verdict.unknown:
                    result.restrictions.setdefault(restriction, []).append((lic, "the card"))
    if declared.text and declared.file:
        # The LICENSE file is the licence's own text: a restrictive one it opens with that the
        # declared expression does not name applies too (`license: other` with a
        # `license_name: mit` over a non-commercial LICENSE is non-commercial). A GPL text
        # reads as `-only`; a declared `-or-later` names it (a text cannot tell them apart).
        named = _named(declared.manifest) | _named(declared.card)
        for key in declared.file_licences:
            if any(licenses.same_family(key, other) for other in named):
                continue
            file_verdict, file_issues = _judge(f"model {model.name}", key, policy)
            result.file += [
                Issue(
                    i.subject,
                    i.licence,
                    f"{declared.file} is the text of {key}: {i.problem}",
                    i.kind,
                )
                for i in file_issues
                if i.kind in ("not-allowed", "restricted")
            ]
            for restriction, lic in file_verdict.restrictions if file_verdict else ():
                result.restrictions.setdefault(restriction, []).append((lic, declared.file))
    datasets = {d.name: d for d in inventory.datasets}
    for name in model.decl.datasets:
        dataset = datasets.get(name)
        if dataset is None:
            continue
        dataset_verdict, issues = _judge(f"dataset {name}", dataset.license, policy)
        result.datasets += issues
        for restriction, lic in dataset_verdict.restrictions if dataset_verdict else ():
            result.restrictions.setdefault(restriction, []).append((lic, f"dataset {name}"))
    # Every declared ancestor the lineage claim sees, nearest first; one already reached
    # through a nearer one's own lineage is not inherited twice.
    ancestors = ancestry(model, inventory.models)
    if ancestors and _declared(model, ancestors[0], inventory) is None and policy.unknown == "deny":
        result.undeclared = [
            Issue(
                f"model {model.name}",
                None,
                f"its base model {ancestors[0].text!r} is not a model declared in the "
                "manifest, so the licence it passes on is unknown",
                "unknown",
            )
        ]
    bases = bases_of(model, inventory)
    if bases:
        result.base_model = bases[0].name
    for base in bases:
        if base.name in result.reached:
            continue
        if base.name in _seen or base.name == model.name:
            result.cycle = True
            continue
        inherited = assess(base, inventory, policy, _seen | {model.name})
        result.cycle = result.cycle or inherited.cycle
        result.reached |= {base.name} | inherited.reached
        result.base += [
            Issue(issue.subject, issue.licence, issue.problem, issue.kind, (base.name, *issue.via))
            for issue in (
                *inherited.own,
                *inherited.card,
                *inherited.file,
                *inherited.datasets,
                *inherited.undeclared,
                *inherited.base,
            )
        ]
        for restriction, origins in inherited.restrictions.items():
            result.restrictions.setdefault(restriction, []).extend(
                (lic, owner or f"model {base.name}") for lic, owner in origins
            )
    return result


def _remedy(issue: Issue) -> str:
    if issue.kind == "restricted":
        return (
            "use a model or dataset under a licence without this restriction, obtain a licence "
            "that lifts it, or (after legal review) remove it from policy.licenses."
            "deny_restrictions"
        )
    if issue.kind == "not-allowed":
        return (
            "use a model or dataset under an allowed licence, or add the licence to "
            "policy.licenses.allow after legal review"
        )
    if issue.kind == "unparseable":
        return "write an SPDX expression of SPDX or Hub licence ids, e.g. `apache-2.0 OR mit`"
    if issue.kind == "missing":
        return (
            "declare the licence (`license:` in the manifest or the card's front matter), "
            "or set policy.licenses.unknown: allow (with no allow list)"
        )
    return (
        "declare the licence by its SPDX or Hub id (see docs/licenses.md), or set "
        "policy.licenses.unknown: allow after legal review"
    )


_WHY = (
    "a model may only be used, shipped and built upon as its licence allows; the licence "
    "policy says which licences and restrictions this project accepts"
)


def _own_finding(model: ResolvedModel, issue: Issue, declared: Declared) -> Finding:
    if declared.source == "manifest":
        where = "the manifest's `license:`"
    elif declared.source == "card":
        where = "the card's `license`"
    else:
        where = "neither the manifest's `license:` nor the card"
    if issue.licence:
        evidence = f"{issue.problem} (from {where}: {issue.licence!r})"
    elif issue.kind == "unparseable":
        evidence = f"{issue.problem}; so the card's licence cannot be read"
    else:
        evidence = f"{issue.problem}: {where} states one"
        if declared.file:
            evidence += f"; {declared.file} exists but is not read as a licence id"
    at = Location(file=model.name, key_path="license")
    fix = _remedy(issue)
    if issue.kind == "not-allowed":
        return Finding(
            rule="MLS-LIC-001",
            severity=Severity.HIGH,
            category="license",
            title="licence is not in the allow list",
            location=at,
            evidence=evidence,
            why=_WHY,
            remediation=fix,
        )
    if issue.kind == "restricted":
        return Finding(
            rule="MLS-LIC-002",
            severity=Severity.HIGH,
            category="license",
            title="licence carries a denied restriction",
            location=at,
            evidence=evidence,
            why=_WHY,
            remediation=fix,
        )
    if issue.kind == "unknown":
        return Finding(
            rule="MLS-LIC-003",
            severity=Severity.HIGH,
            category="license",
            title="licence is not one the gate knows",
            location=at,
            evidence=evidence,
            why=_WHY + "; an unknown licence may forbid exactly what the project does",
            remediation=fix,
            cwe="CWE-1357",
        )
    if issue.kind == "missing":
        return Finding(
            rule="MLS-LIC-004",
            severity=Severity.HIGH,
            category="license",
            title="no licence is declared",
            location=at,
            evidence=evidence,
            why=_WHY + "; without a licence nobody may use the model at all",
            remediation=fix,
            cwe="CWE-1357",
        )
    return Finding(
        rule="MLS-LIC-005",
        severity=Severity.HIGH,
        category="license",
        title="licence expression cannot be parsed",
        location=at,
        evidence=evidence,
        why=_WHY + "; an expression that does not parse says nothing a reviewer can rely on",
        remediation=fix,
    )


def _card_finding(model: ResolvedModel, issue: Issue, declared: Declared) -> Finding:
    return Finding(
        rule="MLS-LIC-009",
        severity=Severity.HIGH,
        category="license",
        title="the card's licence contradicts the manifest's and fails the policy",
        location=Location(file=model.name, key_path="license"),
        evidence=f"{issue.problem} (the card's `license`: {declared.card!r}; the manifest's "
        f"`license:`: {declared.manifest!r})",
        why=_WHY + "; the card is the model's own statement of its terms, and a manifest entry "
        "that contradicts it is a claim without evidence",
        remediation="check which licence really applies: correct the manifest's `license:` to "
        "the card's (then " + _remedy(issue) + "), or, for a model you publish, correct the card",
        cwe="CWE-1357",
    )


def _file_finding(model: ResolvedModel, issue: Issue, declared: Declared) -> Finding:
    return Finding(
        rule="MLS-LIC-010",
        severity=Severity.HIGH,
        category="license",
        title="the licence file is a licence the declared one omits, and it fails the policy",
        location=Location(file=f"{model.name}/{declared.file}", key_path="license"),
        evidence=f"{issue.problem} (declared: {declared.text!r}, from the "
        f"{declared.source}; the file opens with that licence's title)",
        why=_WHY + "; the licence file is the text the model is actually distributed under, and "
        "a declared id that leaves it out is a claim without evidence",
        remediation="declare the licence the file is (then " + _remedy(issue) + "), or, for a "
        "model you publish, replace the file with the text of the licence you grant",
        cwe="CWE-1357",
    )


def _named(text: str | None) -> frozenset[str]:
    """Every licence an expression names, any alternative, as the table's lower-cased key."""
    if not text:
        return frozenset()
    try:
        keys = licenses.licensing().license_keys(licenses.parse(text))
    except licenses.LicenceError:
        return frozenset()
    out = set()
    for key in keys:
        item = licenses.licence(key)
        out.add((item.key if item else key).lower())
    return frozenset(out)


def _inherited_finding(model: ResolvedModel, issue: Issue, from_base: bool) -> Finding:
    hops = [f"model {name}" for name in issue.via]
    if not hops or hops[-1] != issue.subject:
        hops.append(issue.subject)
    path = " → ".join(hops)
    stated = f"licence {issue.licence!r}" if issue.licence else "no licence"
    evidence = f"{path} ({stated}): {issue.problem}"
    if issue.licence is None and issue.kind == "unknown":
        evidence = f"{path}: {issue.problem}"  # an undeclared base, not a missing licence
    if from_base:
        return Finding(
            rule="MLS-LIC-006",
            severity=Severity.HIGH,
            category="license",
            title="base model's licence fails the policy",
            location=Location(file=model.name, key_path="lineage.base_model"),
            evidence=evidence,
            why="a fine-tune or adapter is a derivative of its base model and is bound by the "
            "base model's licence and by what the base was trained on",
            remediation="build on a base model whose licence satisfies the policy; "
            + _remedy(issue),
        )
    return Finding(
        rule="MLS-LIC-007",
        severity=Severity.HIGH,
        category="license",
        title="training dataset's licence fails the policy",
        location=Location(file=model.name, key_path="datasets"),
        evidence=evidence,
        why="a model trained on a dataset is bound by the dataset's licence (non-commercial or "
        "research-only data makes the model so)",
        remediation="train on data whose licence satisfies the policy; " + _remedy(issue),
    )


def findings_of(model: ResolvedModel, assessment: Assessment) -> list[Finding]:
    out = [_own_finding(model, issue, assessment.declared) for issue in assessment.own]
    out += [_card_finding(model, issue, assessment.declared) for issue in assessment.card]
    out += [_file_finding(model, issue, assessment.declared) for issue in assessment.file]
    out += [_inherited_finding(model, issue, from_base=False) for issue in assessment.datasets]
    out += [_inherited_finding(model, issue, from_base=True) for issue in assessment.base]
    if model.decl.base_model and assessment.base_model is None:
        # Denied unknown licences make an unknown base's licence a failure; `unknown: allow`
        # leaves a warning.
        out.append(
            Finding(
                rule="MLS-LIC-008",
                severity=Severity.HIGH if assessment.undeclared else Severity.LOW,
                category="license",
                title="base model's licence is not checked",
                location=Location(file=model.name, key_path="lineage.base_model"),
                evidence=f"lineage.base_model {model.decl.base_model!r} is not a model declared "
                "in the manifest, so the restrictions it passes on are unknown",
                why="a derivative is bound by its base model's licence",
                remediation="declare the base model under `models:` (with its `license:`) so its "
                "licence is checked and inherited",
                cwe="CWE-1357",
            )
        )
    if assessment.cycle:
        out.append(
            Finding(
                rule="MLS-LIC-006",
                severity=Severity.HIGH,
                category="license",
                title="base model's licence fails the policy",
                location=Location(file=model.name, key_path="lineage.base_model"),
                evidence=f"the lineage of model {model.name} loops back to itself through "
                f"model {assessment.base_model}",
                why="a lineage that loops names no real base, so no licence can be inherited",
                remediation="point lineage.base_model at the model this one was built from",
            )
        )
    return out


def facts_of(assessment: Assessment) -> dict[str, Any]:
    declared = assessment.declared
    facts: dict[str, Any] = {
        "source": declared.source,
        "expression": assessment.verdict.expression if assessment.verdict else declared.text,
        "restrictions": {
            restriction: sorted({f"{lic} of {owner}" if owner else lic for lic, owner in origins})
            for restriction, origins in sorted(assessment.restrictions.items())
        },
    }
    if assessment.verdict is not None:
        facts["licences"] = list(assessment.verdict.licences)
        if assessment.verdict.unknown:
            facts["accepted_unknown"] = list(assessment.verdict.unknown)
    if declared.manifest:
        facts["manifest"] = declared.manifest
    if declared.card:
        facts["card"] = declared.card
    if declared.file:
        facts["file"] = declared.file
    if assessment.base_model:
        facts["inherits_from"] = assessment.base_model
    if declared.manifest and declared.card and not _same(declared.manifest, declared.card):
        # Recorded, not judged: the model-card-accuracy claim owns contradictions.
        facts["card_disagrees"] = True
    return facts


def _same(a: str, b: str) -> bool:
    try:
        return bool(licenses.licensing().is_equivalent(licenses.parse(a), licenses.parse(b)))
    except licenses.LicenceError:
        return a.strip().lower() == b.strip().lower()


def run(model: ResolvedModel, ctx: CheckContext) -> Outcome:
    if model.error is not None:
        return Outcome(error=model.error)
    assessment = assess(model, ctx.inventory, ctx.policy.licenses)
    return Outcome(findings=findings_of(model, assessment), facts={"license": facts_of(assessment)})


CHECK = ProvenanceCheck(
    name="license",
    kind=RowKind.PROVENANCE,
    summary="the model's licence, and those of its datasets and base models, satisfy the "
    "licence policy",
    run=run,
    # When it applies, and which policy requires it, is its registry line's call.
)
