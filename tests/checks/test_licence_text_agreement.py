"""The two claims that read a ``LICENSE`` file read it alike: the ``license`` claim (MLS-LIC-010)
and the ``model-card-accuracy`` claim (MLS-CARD-101) name the same licence for the same text.

Each model ships a card that says ``license: cc0-1.0`` (no restrictions) beside a ``LICENSE``
file under a policy that denies every restriction but attribution: whatever licence the file is
read as shows in both claims' results, through the real pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_mlsupply.licenses import RESTRICTIONS
from pytest_mlsupply.results import CheckResult

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline

CC_BY_NC = """\
Attribution-NonCommercial 4.0 International

=======================================================================

Creative Commons Corporation ("Creative Commons") is not a law firm and
does not provide legal services or legal advice.
"""
APACHE = """\

                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION
"""
MIT = """\
MIT License

Copyright (c) 2026 ACME

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction...

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
"""
LLAMA3 = """\
META LLAMA 3 COMMUNITY LICENSE AGREEMENT
Meta Llama 3 Version Release Date: April 18, 2024
"Agreement" means the terms and conditions for use, reproduction, distribution and
modification of the Llama Materials set forth herein.
"""
MISTRAL_RESEARCH = """\
# Mistral AI Research License

If You want to use a Mistral Model, a Derivative or an Output for any purpose that is not
expressly authorized under this Agreement, You must request a license from Mistral AI.
"""
CUSTOM = """\
ACME Model Weights Licence 1.0

Unlike the MIT License or the Apache License, Version 2.0, this licence grants no right to
redistribute the weights. Use them for internal evaluation only.
"""


def both_claims(pipeline: Pipeline, text: str) -> tuple[CheckResult, CheckResult]:
    directory = pipeline.project.root / "models" / "m"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text("{}")
    (directory / "README.md").write_text("---\nlicense: cc0-1.0\n---\n# m\n")
    (directory / "LICENSE").write_text(text)
    denied = sorted(set(RESTRICTIONS) - {"attribution"})
    (pipeline.project.root / "mlsupply.yaml").write_text(
        "version: 1\nproject: {name: agreement}\n"
        f"policy:\n  licenses: {{deny_restrictions: [{', '.join(denied)}]}}\n"
        "models:\n  - name: m\n    path: models/m\n"
    )
    return (
        pipeline.result("provenance[m::license]"),
        pipeline.result("provenance[m::model-card-accuracy]"),
    )


def read_by_licence_claim(result: CheckResult) -> list[str]:
    """The licences the license claim took from the LICENSE file (the restrictions it added)."""
    owners = {o for origins in result.facts["license"]["restrictions"].values() for o in origins}
    return sorted(o.removesuffix(" of LICENSE") for o in owners if o.endswith(" of LICENSE"))


@pytest.mark.parametrize(
    ("text", "identified", "restrictive"),
    [
        (CC_BY_NC, "CC-BY-NC-4.0", True),
        (LLAMA3, "llama3", True),
        (APACHE, "Apache-2.0", False),
        (MIT, "MIT", False),
        (MISTRAL_RESEARCH, "mrl", True),
        (CUSTOM, None, False),
    ],
    ids=["cc-by-nc", "llama3", "apache", "mit", "mistral-research", "custom"],
)
def test_both_claims_read_the_same_licence_from_the_same_license_file(
    pipeline: Pipeline, text: str, identified: str | None, restrictive: bool
) -> None:
    licence_claim, accuracy_claim = both_claims(pipeline, text)

    assert accuracy_claim.facts["card_accuracy"]["license_file"] == {
        "file": "LICENSE",
        "identified": identified,
    }
    # The license claim takes only what restricts (attribution takes nothing away), and takes
    # it from the same reading.
    assert read_by_licence_claim(licence_claim) == ([identified] if restrictive else [])
    said = f"LICENSE is the text of {identified}"
    assert [f.rule for f in accuracy_claim.findings] == (["MLS-CARD-101"] if identified else [])
    assert all(said in f.evidence for f in accuracy_claim.findings)
    # One MLS-LIC-010 per denied restriction the file's licence carries.
    assert {f.rule for f in licence_claim.findings} == ({"MLS-LIC-010"} if restrictive else set())
    assert all(said in f.evidence for f in licence_claim.findings)


def test_a_file_opening_with_two_licences_carries_both_yet_contradicts_no_card(
    pipeline: Pipeline,
) -> None:
    # The one difference, on purpose: restrictions fail closed (both apply), a contradiction
    # needs a text that is one licence for certain.
    licence_claim, accuracy_claim = both_claims(pipeline, LLAMA3 + "\n" + CC_BY_NC)

    assert read_by_licence_claim(licence_claim) == ["CC-BY-NC-4.0", "llama3"]
    assert accuracy_claim.facts["card_accuracy"]["license_file"]["identified"] is None
    assert accuracy_claim.findings == []
