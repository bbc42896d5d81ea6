"""The network (DESIGN §11): the signed national register, its import at every node, and its publication.

Public parts: ``RegisterContent`` (what one serial of the register holds), ``bundle`` (its FHIR Bundle form),
``signature`` (ES384 JWS over RFC 8785 canonical JSON), ``diff`` (the changes between two serials),
``RegisterImport`` (verify, check, apply atomically, audit) and ``NationalRegister`` (what the register services read,
with this node's own suspensions over it). Fetching goes through the ``RegisterSource`` port.
"""

from mais_node.network.diff import Change, diff
from mais_node.network.model import NationalEndpoint, RegisterContent
from mais_node.network.national import NationalRegister
from mais_node.network.ports import (
    Fetched,
    LocalDecisions,
    NationalStore,
    NotModified,
    PublishedRegisters,
    RegisterSource,
)
from mais_node.network.sync import ImportRefused, ImportResult, RegisterImport

__all__ = [
    "Change",
    "Fetched",
    "ImportRefused",
    "ImportResult",
    "LocalDecisions",
    "NationalEndpoint",
    "NationalRegister",
    "NationalStore",
    "NotModified",
    "PublishedRegisters",
    "RegisterContent",
    "RegisterImport",
    "RegisterSource",
    "diff",
]
