"""String normalisation for search: case- and accent-insensitive (FHIR R4 §3.1.1.4.7), and blind to what the
person matcher is blind to (issue 13 §1): invisible format characters, compatibility forms, apostrophes and
punctuation. ``Patient?name=Sanjay`` finds a stored "San\\u200bjay", and the reverse.

It is the matcher's own ``fold`` (matching/normalise.py), without the matcher's name rules (Mc/Mac): those make
two names equal, but would break a prefix search ("Mc" would no longer find "McDonald"). The stored index holds
values made by this function; ``VERSION`` names it, and a store whose values were made by an older one makes them
again at start (storage/sqlite.py, storage/mongo.py).
"""

from __future__ import annotations

from functools import lru_cache

from mais_node.matching.normalise import fold

# The highest code point: a prefix range [p, p + MAX_CHAR) selects every string starting with p.
MAX_CHAR = "\U0010ffff"
# 1: NFKD, combining marks dropped, case folded, spaces collapsed. 2: the matcher's fold (issue 13).
VERSION = "2"


@lru_cache(maxsize=4096)
def normalise(text: str) -> str:
    return fold(text)
