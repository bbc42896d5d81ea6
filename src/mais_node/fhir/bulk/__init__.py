"""Bulk load of a node's people, their involvements and the teams that hold them (``mais person import``): Patient,
EpisodeOfCare and Organization rows, from a FHIR Bundle or NDJSON of any size (fhir/bulk/importer.py tells how)."""

from mais_node.fhir.bulk.importer import Importer, ImportReport
from mais_node.fhir.bulk.nhs import mark_nhs_verified
from mais_node.fhir.bulk.rows import Reading, Row
from mais_node.fhir.bulk.scratch import MemoryScratch, Scratch

__all__ = ["ImportReport", "Importer", "MemoryScratch", "Reading", "Row", "Scratch", "mark_nhs_verified"]
