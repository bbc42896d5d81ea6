"""The agreed vocabularies and the terminology operations (DESIGN §5; FHIR R4 terminology service).

``CANONICAL_BASE`` is the one place in code that holds the canonical base of the node's vocabularies
and profiles.
"""

from __future__ import annotations

from mais_node.terminology.loader import load_directory
from mais_node.terminology.model import ConceptRef, LookupResult, Translation, ValidationResult
from mais_node.terminology.service import TerminologyService

CANONICAL_BASE = "https://mais.example.org/fhir"

PURPOSE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/request-asserted-purpose"
PURPOSE_VALUESET = f"{CANONICAL_BASE}/ValueSet/request-asserted-purpose"
REQUEST_TYPE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/request-type"
PURPOSE_OF_USE_MAP = f"{CANONICAL_BASE}/ConceptMap/purpose-to-purpose-of-use"

__all__ = [
    "CANONICAL_BASE",
    "PURPOSE_OF_USE_MAP",
    "PURPOSE_SYSTEM",
    "PURPOSE_VALUESET",
    "REQUEST_TYPE_SYSTEM",
    "ConceptRef",
    "LookupResult",
    "TerminologyService",
    "Translation",
    "ValidationResult",
    "load_directory",
]
