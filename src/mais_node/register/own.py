"""The node's own register entry and systems stay out of the API's reach (issue 13 item 7).

Every token of the node's own systems (its administrators, terminology managers, reviewers) is checked against the
node's own organisation in its own register. Over the API, deleting that entry, changing its ODS code, making it
anything but active and verified, adding a second entry with its ODS code, or revoking one of its systems would lock
the node out of itself with no way back over HTTP. These are refused (409); an operator at the node's console may do
them with the CLI (``console=True``), where ``mais org activate`` or ``mais client add`` undoes them.
"""

from __future__ import annotations

from typing import Any

from mais_node.errors import Protected
from mais_node.fhir.models import check_structure
from mais_node.register.fhir_organisation import from_resource
from mais_node.register.model import Client, Organisation


def _own(ods: str) -> str:
    return f"Organisation {ods} is this node's own organisation"


def check_change(node_ods: str, before: Organisation | None, after: Organisation | None) -> None:
    """Refuse a change of the node's own entry (``after`` None: its deletion) that stops its systems connecting."""
    if before is None or before.ods != node_ods:
        return
    if after is None:
        raise Protected(f"{_own(node_ods)}: it cannot be deleted over the API, or its own systems could not connect")
    if after.ods != node_ods:
        raise Protected(f"{_own(node_ods)}: its ODS code cannot be changed over the API", expression=("identifier",))
    why = after.why_not()
    if why is not None:
        raise Protected(
            f"{_own(node_ods)}: it cannot be made {why.removeprefix(f'organisation {node_ods} is ')} over the API,"
            f" or its own systems could not connect (an operator at the node's console can: mais org suspend"
            f" {node_ods})",
            expression=("extension",),
        )


def check_write(node_ods: str, holder: Organisation | None, id: str | None, body: dict[str, Any] | None) -> None:
    """A REST write of Organization ``id`` (``body`` None: a delete), given ``holder``, the node's own entry now."""
    if holder is None:
        return
    if body is not None:
        check_structure(body)  # from_resource reads only well-formed R4; the same check refuses the rest
    after = from_resource(body, 0) if body is not None else None
    if id is not None and id == holder.id:
        if body is not None and after is None:
            raise Protected(
                f"{_own(node_ods)}: its ODS code cannot be removed over the API", expression=("identifier",)
            )
        if body is not None and body.get("active") is False:  # FHIR's own flag, which the register keeps in step
            raise Protected(f"{_own(node_ods)}: it cannot be made inactive over the API", expression=("active",))
        check_change(node_ods, holder, after)
    elif after is not None and after.ods == node_ods:
        raise Protected(
            f"Organisation {node_ods} is already in the register"
            f" ({f'Organization/{holder.id}' if holder.id else holder.source}): a second entry with"
            " this node's own ODS code would answer for it",
            expression=("identifier",),
        )


def check_revoke(node_ods: str, client: Client) -> None:
    """A system of the node's own organisation is revoked only at the node's console."""
    if client.org_ods == node_ods:
        raise Protected(
            f"Client {client.client_id} is a system of this node's own organisation {node_ods}: it cannot be"
            f" revoked over the API (an operator at the node's console can: mais client revoke {client.client_id})",
            expression=("client_id",),
        )
