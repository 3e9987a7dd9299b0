"""Licence texts identified by content: confidently one licence, or not at all."""

from __future__ import annotations

import pytest

from pytest_mlsupply.licenses import TITLE_WINDOW, equivalent, identify, same_family, symbols


def identify_text(text: str) -> str | None:
    """The key of the one licence ``text`` is, as the model-card-accuracy claim reads it."""
    only = identify(text).only
    return only.key if only else None


MIT = """\
MIT License

Copyright (c) 2024 ACME

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction...

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
"""
APACHE = "                                 Apache License\n   Version 2.0, January 2004\n"
CC_BY_NC = "Attribution-NonCommercial 4.0 International\n\nCreative Commons Corporation ..."
CC_BY = "Attribution 4.0 International\n\nCreative Commons Corporation ..."
GPL3 = "GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n"
AGPL3 = (
    "GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3, 19 November 2007\n... the GNU General "
    "Public License ..."
)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (MIT, "MIT"),
        (APACHE, "Apache-2.0"),
        (CC_BY_NC, "CC-BY-NC-4.0"),
        (CC_BY, "CC-BY-4.0"),
        (GPL3, "GPL-3.0-only"),
        (AGPL3, "AGPL-3.0-only"),
        ("META LLAMA 3 COMMUNITY LICENSE AGREEMENT\n...", "llama3"),
        ("LLAMA 2 COMMUNITY LICENSE AGREEMENT\n...", "llama2"),
        ("Gemma Terms of Use\n...", "gemma"),
    ],
)
def test_a_well_known_licence_text_is_identified_by_the_lines_it_prints(
    text: str, key: str
) -> None:
    assert identify_text(text) == key


def test_line_breaks_and_case_do_not_hide_a_licence() -> None:
    assert identify_text("APACHE LICENSE\n  Version 2.0,\n   January 2004") == "Apache-2.0"


@pytest.mark.parametrize(
    "text",
    [
        "Copyright ACME. All rights reserved.",
        "Licensed under the MIT licence.",  # a mention is not the text
        MIT + "\n\n" + APACHE,  # two licences in one file: which one applies is not ours to say
        "",
    ],
)
def test_a_text_that_is_not_confidently_one_licence_is_not_identified(text: str) -> None:
    assert identify_text(text) is None


def test_expressions_compare_by_meaning_and_name_their_licences() -> None:
    assert equivalent("apache-2.0 OR mit", "MIT or Apache-2.0")
    assert not equivalent("apache-2.0 OR mit", "apache-2.0 AND mit")
    assert symbols("cc-by-nc-4.0 AND llama3") == ("CC-BY-NC-4.0", "llama3")


def test_only_and_or_later_are_one_family_for_a_licence_file() -> None:
    assert same_family("GPL-3.0-only", "GPL-3.0-or-later")
    assert not same_family("GPL-3.0-only", "AGPL-3.0-only")


def test_the_lgpl_text_which_cites_the_gpl_is_not_read_as_the_gpl() -> None:
    lgpl3 = (
        "GNU LESSER GENERAL PUBLIC LICENSE\n   Version 3, 29 June 2007\n\nThis version of the GNU "
        "Lesser General Public License incorporates the terms and conditions of version 3 of the "
        "GNU General Public License, supplemented by the additional permissions listed below.\n"
    )

    assert identify_text(lgpl3) is None


def test_the_licence_claim_reads_every_restrictive_licence_a_file_opens_with() -> None:
    text = identify("META LLAMA 3 COMMUNITY LICENSE AGREEMENT\n...\n" + CC_BY_NC + APACHE)

    assert [item.key for item in text.opening] == ["llama3", "CC-BY-NC-4.0"]
    assert [item.key for item in text.licences] == ["llama3", "CC-BY-NC-4.0", "Apache-2.0"]
    assert text.only is None


def test_a_permissive_licence_text_adds_nothing_for_the_licence_claim() -> None:
    for body in (MIT, APACHE, CC_BY):
        assert identify(body).opening == ()
        assert identify(body).only is not None


def test_a_licence_title_past_the_opening_window_is_not_what_the_file_opens_with() -> None:
    text = identify("ACME notice. " * (TITLE_WINDOW // 10) + CC_BY_NC)

    assert text.opening == ()
    assert [item.key for item in text.licences] == ["CC-BY-NC-4.0"]
