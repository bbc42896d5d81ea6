"""String normalisation for search: case- and accent-insensitive (FHIR R4 §3.1.1.4.7)."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# The highest code point: a prefix range [p, p + MAX_CHAR) selects every string starting with p.
MAX_CHAR = "\U0010ffff"


@lru_cache(maxsize=4096)
def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())
