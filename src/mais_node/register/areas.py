"""The local authority areas an organisation serves, as ONS GSS codes of local authority districts (LAD).

A LAD code is a letter for the nation (E England, W Wales, S Scotland, N Northern Ireland) and eight digits: the
entity type (E06 unitary authority, E07 district, E08 metropolitan district, E09 London borough, W06, S12, N09)
and a serial, e.g. ``E08000025`` (Birmingham). The coding system is the ONS statistical geography's own URI
(``http://statistics.data.gov.uk/id/statistical-geography/<code>`` names each area).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mais_node.errors import InvalidRequest

LAD_SYSTEM = "http://statistics.data.gov.uk/id/statistical-geography"
_LAD = re.compile(r"^[ENSW][0-9]{8}$")


def lad_code(text: str, *, expression: str = "area") -> str:
    """An ONS LAD code, upper-cased; InvalidRequest naming the format when it cannot be one."""
    code = text.strip().upper()
    if not _LAD.match(code):
        raise InvalidRequest(
            f"'{text[:20]}' is not an ONS local authority district code (a letter E, W, S or N and 8 digits, "
            "E06000001-style)",
            expression=(expression,),
        )
    return code


def lad_codes(texts: Iterable[str], *, expression: str = "area") -> tuple[str, ...]:
    """Each code checked, once each, in the order given."""
    return tuple(dict.fromkeys(lad_code(t, expression=expression) for t in texts))
