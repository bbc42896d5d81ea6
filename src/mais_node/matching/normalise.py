"""Normalisation of the identifying fields before they are compared or blocked (DESIGN §3 "Matching"; issue 5 §6).

Names: format characters (Unicode category Cf: zero-width space and joiners, the word joiner, the soft hyphen,
direction marks) removed, so that an invisible character never splits or changes a name (issue 13 §1); then
compatibility forms folded (NFKC: fullwidth letters and ligatures become plain ones), case folded, the combining
marks dropped after decomposition (the comparison is accent-blind), the Latin letters with a stroke that Unicode
does not decompose written plain (ł, ø, đ), apostrophes removed, hyphens, punctuation and every kind of space
turned into one space, and the Scottish/Irish "Mc" written "Mac" so that McDonald and MacDonald agree. Letters
of every script are kept: a name in Arabic or Chinese script is compared, not dropped. Postcodes: upper case,
the inward code (last three characters) separated by one space. Birth dates become the integer ``yyyymmdd`` so
that day, month and year can be compared cheaply, and a postcode packs into one integer (base 37) so that a
million of them cost no strings.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache

_APOSTROPHES = re.compile(r"['\u2019\u2018`\u02bc]")
_DROPPED = frozenset(("Cf", "Mn", "Me"))  # format characters, then (after NFKD) non-spacing and enclosing marks
# Latin letters with a stroke or ligatures that have no decomposition (\u0131 is the dotless i).
_STROKED = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ð": "d", "ħ": "h", "\u0131": "i", "ŧ": "t", "æ": "ae", "œ": "oe"}
)
# Every ASCII character that is not a letter or digit separates words (apostrophes are removed before).
_ASCII_SPACES = str.maketrans({chr(code): " " for code in range(128) if not chr(code).isalnum()})
_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")
_POSTCODE_ALPHABET = " 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_POSTCODE_DIGIT = {char: index for index, char in enumerate(_POSTCODE_ALPHABET)}
# Names repeat: a population of millions has some tens of thousands of distinct family and given names, so the pure
# functions a write applies to each name remember their last answers (issue 17: the import's per-row cost).
REMEMBERED = 1 << 16
_SOUNDEX = {
    char: code
    for chars, code in (("bfpv", "1"), ("cgjkqsxz", "2"), ("dt", "3"), ("l", "4"), ("mn", "5"), ("r", "6"))
    for char in chars
}


@lru_cache(maxsize=REMEMBERED)
def normalise_name(value: str) -> str:
    """One name as lower-case words separated by single spaces ("O'Brien-Núñez" -> "obrien nunez")."""
    words = fold(value).split()
    return " ".join("mac" + word[2:] if word.startswith("mc") and len(word) > 3 else word for word in words)


@lru_cache(maxsize=REMEMBERED)
def fold(value: str) -> str:
    """Text as the comparison sees it, before any name rule: format characters gone, compatibility forms, case and
    accents folded, apostrophes dropped, anything not a letter or digit one space ("O'Brien-Núñez" -> "obrien nunez").

    The FHIR string search uses this too (fhir/search/text.py), so that a search finds what the matcher would."""
    if value.isascii():  # most names: every Unicode step leaves ASCII as it is, and this is four times faster
        return " ".join(_APOSTROPHES.sub("", value.lower()).translate(_ASCII_SPACES).split())
    return fold_unicode(value)


def fold_unicode(value: str) -> str:
    """``fold`` for text of any script, step by step."""
    visible = "".join(char for char in value if unicodedata.category(char) != "Cf")
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", visible).casefold())
    stripped = "".join(char for char in decomposed if unicodedata.category(char) not in _DROPPED)
    folded = unicodedata.normalize("NFKC", stripped).translate(_STROKED)
    # A spacing mark (category Mc, as in Devanagari vowel signs) belongs to its word; anything else not a letter
    # or digit separates words.
    spaced = "".join(
        char if char.isalnum() or unicodedata.category(char) == "Mc" else " " for char in _APOSTROPHES.sub("", folded)
    )
    return " ".join(spaced.split())


def name_tokens(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Every word of several names, normalised, in order and without repeats ("Mary-Jane" gives two)."""
    seen: dict[str, None] = {}
    for value in values:
        for word in normalise_name(value).split():
            seen.setdefault(word, None)
    return tuple(seen)


def normalise_postcode(value: str) -> str | None:
    """A UK postcode in its canonical form ("sw1a1aa" -> "SW1A 1AA"); None when empty."""
    compact = "".join(char for char in value.upper() if char.isalnum())
    if not compact:
        return None
    if len(compact) < 5:
        return compact
    return f"{compact[:-3]} {compact[-3:]}"


def postcode_sector(postcode: str) -> str:
    """The postcode sector: outward code and the first character of the inward code ("SW1A 1AA" -> "SW1A 1")."""
    return postcode[:-2] if " " in postcode else postcode


def postcode_key(postcode: str | None) -> int:
    """A UK postcode (in any case and spacing) packed into an integer (0 when absent or not a UK postcode).

    The outward code is padded to four characters, so dividing by 37**2 gives the sector and by 37**3 the
    district: comparisons and blocking never touch a string.
    """
    if not postcode:
        return 0
    compact = "".join(char for char in postcode.upper() if char.isalnum())
    if not _POSTCODE.match(compact):
        return 0
    padded = compact[:-3].ljust(4) + compact[-3:]
    key = 0
    for char in padded:
        key = key * 37 + _POSTCODE_DIGIT[char]
    return key


def birth_key(birth_date: date | None) -> int:
    """A birth date as the integer yyyymmdd (0 when unknown)."""
    if birth_date is None:
        return 0
    return birth_date.year * 10000 + birth_date.month * 100 + birth_date.day


@lru_cache(maxsize=REMEMBERED)
def soundex(name: str) -> int:
    """American Soundex of a normalised name, packed into an integer (0 for no letters); used for blocking."""
    letters = [char for char in name if "a" <= char <= "z"]
    if not letters:
        return 0
    # Soundex keeps the first letter and codes the consonants after it; equal neighbouring codes count once,
    # and a vowel (but not h or w) separates two equal codes.
    previous = _SOUNDEX.get(letters[0], "")
    digits: list[str] = []
    for char in letters[1:]:
        if char in "hw":
            continue
        code = _SOUNDEX.get(char, "")
        if code and code != previous:
            digits.append(code)
            if len(digits) == 3:
                break
        previous = code
    return (ord(letters[0]) - 96) * 1000 + int("".join(digits).ljust(3, "0"))
