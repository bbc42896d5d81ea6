"""Path convertors for the FHIR REST routes: a stored type and a FHIR id (R4 §2.24.0.1: [A-Za-z0-9-.]{1,64}).

Constraining the parameters lets the router tell ``/fhir/Patient/123`` from ``/fhir/Patient/$match`` and
``/fhir/AuditEvent`` by their shape, so the generic routes can be matched early and cheaply.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

from mais_node.fhir.search.params import DECLARED


class StoredTypeConvertor(Convertor[str]):
    regex = "(?:" + "|".join(sorted(DECLARED, key=len, reverse=True)) + ")"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class FhirIdConvertor(Convertor[str]):
    regex = "[A-Za-z0-9.\\-]{1,64}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("stored", StoredTypeConvertor())
register_url_convertor("fhirid", FhirIdConvertor())
