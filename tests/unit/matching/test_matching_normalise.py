"""Normalisation of names, postcodes and dates before matching."""

import random
from datetime import date

import pytest

from mais_node.matching.nicknames import are_nicknames, nicknames_of
from mais_node.matching.normalise import (
    birth_key,
    fold,
    fold_unicode,
    name_tokens,
    normalise_name,
    normalise_postcode,
    postcode_key,
    postcode_sector,
    soundex,
)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("SMITH", "smith"),
        ("  Zoë   ", "zoe"),
        ("O'Brien", "obrien"),
        ("O\u2019Brien", "obrien"),
        ("Smith-Jones", "smith jones"),
        ("Núñez  García", "nunez garcia"),
        ("McDonald", "macdonald"),
        ("Ångström", "angstrom"),
        ("ﬁona", "fiona"),
    ],
)
def test_names_lose_case_accents_apostrophes_and_hyphens(raw: str, normalised: str) -> None:
    assert normalise_name(raw) == normalised


def test_hyphenated_given_names_give_each_word_once() -> None:
    assert name_tokens(("Mary-Jane", "Jane", "ANNE")) == ("mary", "jane", "anne")


@pytest.mark.parametrize(
    ("raw", "canonical"), [("sw1a1aa", "SW1A 1AA"), (" M1  1ae ", "M1 1AE"), ("b33 8th", "B33 8TH"), ("", None)]
)
def test_postcodes_are_upper_case_with_one_space_before_the_inward_code(raw: str, canonical: str | None) -> None:
    assert normalise_postcode(raw) == canonical


def test_postcode_sector_is_outward_code_and_first_inward_character() -> None:
    assert postcode_sector("SW1A 1AA") == "SW1A 1"
    assert postcode_key("SW1A 1AA") // 37**2 == postcode_key("SW1A 1ZZ") // 37**2
    assert postcode_key("SW1A 1AA") // 37**2 != postcode_key("SW1A 2AA") // 37**2


def test_postcode_key_ignores_spacing_and_case_and_refuses_non_postcodes() -> None:
    assert postcode_key("sw1a1aa") == postcode_key("SW1A 1AA") != 0
    assert postcode_key("not a postcode") == 0
    assert postcode_key(None) == 0


def test_birth_key_is_yyyymmdd() -> None:
    assert birth_key(date(2011, 3, 9)) == 20110309
    assert birth_key(None) == 0


def test_soundex_groups_names_that_sound_alike() -> None:
    assert soundex("robert") == soundex("rupert")
    assert soundex("smith") == soundex("smyth")
    assert soundex("ashcraft") == 1261
    assert soundex("") == 0


@pytest.mark.parametrize(
    ("first", "second"),
    [("bill", "william"), ("peggy", "margaret"), ("jack", "john"), ("alex", "alexander"), ("alex", "alexandra")],
)
def test_common_nicknames_are_equivalent(first: str, second: str) -> None:
    assert are_nicknames(first, second)
    assert are_nicknames(second, first)


def test_unrelated_names_and_the_same_name_are_not_nicknames() -> None:
    assert not are_nicknames("alexander", "alexandra")
    assert not are_nicknames("william", "william")
    assert not are_nicknames("zebedee", "william")
    assert "bill" in nicknames_of("william")


def test_the_ascii_shortcut_folds_exactly_as_the_unicode_steps() -> None:
    chance = random.Random(17)
    ascii_chars = [chr(code) for code in range(128)]
    samples = [
        "O'Brien-Smith",
        "  Mc Donald ",
        "A`B",
        "x\x00y\ty",
        *("".join(chance.choice(ascii_chars) for _ in range(chance.randint(0, 12))) for _ in range(20_000)),
    ]
    for value in samples:
        assert fold(value) == fold_unicode(value), repr(value)
