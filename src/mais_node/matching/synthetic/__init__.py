"""Synthetic people and labelled enquiries for the demo index and the matching benchmark (issue 5 §9)."""

from mais_node.matching.fhir_patient import to_fhir_patient
from mais_node.matching.synthetic.population import generate_population, iter_population, synthetic_nhs_number
from mais_node.matching.synthetic.queries import LabelledQuery, noisy_queries

__all__ = [
    "LabelledQuery",
    "generate_population",
    "iter_population",
    "noisy_queries",
    "synthetic_nhs_number",
    "to_fhir_patient",
]
