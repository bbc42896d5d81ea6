"""mais-node: the node a safeguarding partner runs to answer MAIS enquiries (FHIR R4)."""

__version__ = "0.1.0"
