"""The audit trail (DESIGN §7): BALP AuditEvent builders, the append-only hash chain, verification, export.

The domain side only: storage adapters live in ``mais_node.storage.sqlite_audit`` and
``mais_node.storage.mongo_audit``; the checkpoint signer in ``mais_node.adapters.jose_signer``.
"""

from mais_node.audit.chain import GENESIS, canonical_json, chain_hash
from mais_node.audit.checkpoint import (
    Checkpoint,
    Checkpointer,
    InvalidSignatureError,
    Signer,
    sign_checkpoint,
)
from mais_node.audit.port import AuditLog, AuditPage, AuditRecord, CheckpointStore, Event
from mais_node.audit.query import AuditQuery, parse_audit_query
from mais_node.audit.verify import VerifyReport, verify

__all__ = [
    "GENESIS",
    "AuditLog",
    "AuditPage",
    "AuditQuery",
    "AuditRecord",
    "Checkpoint",
    "CheckpointStore",
    "Checkpointer",
    "Event",
    "InvalidSignatureError",
    "Signer",
    "VerifyReport",
    "canonical_json",
    "chain_hash",
    "parse_audit_query",
    "sign_checkpoint",
    "verify",
]
