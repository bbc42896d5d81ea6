"""FHIR R4 building blocks: models shim, OperationOutcome, Bundle, search parameters, CapabilityStatement."""
