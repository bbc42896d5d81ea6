"""FHIR search (R4 §3.1.1.4): parameters declared as data, parsed into a store-neutral query."""
