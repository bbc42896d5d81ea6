"""The IG officer's side of the review queue over HTTP (``mais review``): list the enquiries referred for review,
show one, decide it with ``Task/{id}/$review``. A client of the node like ``mais enquire``, with a reviewer's key:
every decision goes through the node's own service, checked and audited as that reviewer (docs/decisions.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from mais_node.client import EnquiryClient

REVIEWER_SCOPE = "mais/reviewer system/Task.rs"  # deciding, and reading the referred Tasks
REQUESTER_TAG = "requester-org"
DECISION = "/CodeSystem/decision"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class ReviewError(RuntimeError):
    """The node refused or could not answer: the message says what and what to do."""


@dataclass(frozen=True)
class Credentials:
    client_id: str
    private_jwk: dict[str, Any]


def load_credentials(path: Path) -> Credentials:
    """A key file as ``mais demo`` writes it (``{"client_id": …, "key": "path/to/private-….jwk.json"}``)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReviewError(f"the key file {path} cannot be read ({exc.strerror or exc})") from exc
    try:
        saved = orjson.loads(raw)
        client_id, key = str(saved["client_id"]), Path(saved["key"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ReviewError(f"{path} is not a key file with client_id and key (as mais demo writes)") from exc
    # The demo writes the key's path as seen from where it ran; beside the key file is where it lies.
    for candidate in (key, path.parent / path.stem / key.name):
        if candidate.is_file():
            return Credentials(client_id, orjson.loads(candidate.read_bytes()))
    raise ReviewError(f"the private key {key} named in {path} is not found")


def _subject(task: dict[str, Any]) -> str:
    reference = str((task.get("for") or {}).get("reference", "")).lstrip("#")
    patient: dict[str, Any] = next((r for r in task.get("contained", []) if r.get("id") == reference), {})
    name = (patient.get("name") or [{}])[0]
    words = [*name.get("given", [])[:1], name.get("family", "")]
    nhs = next((i.get("value") for i in patient.get("identifier", []) if i.get("system") == NHS), None)
    born = patient.get("birthDate")
    return " ".join(w for w in words if w) + (f", born {born}" if born else "") + (f", NHS {nhs}" if nhs else "")


def describe(task: dict[str, Any]) -> dict[str, str]:
    """What an IG officer reads first about a referred enquiry, one value per field."""
    tags = (task.get("meta") or {}).get("tag", [])
    requester = next((t.get("code", "") for t in tags if str(t.get("system", "")).endswith(REQUESTER_TAG)), "")
    purpose = next((c.get("code", "") for c in (task.get("reasonCode") or {}).get("coding", [])), "")
    asked = []
    for output in task.get("output", []):
        item = next((c.get("code", "") for c in (output.get("type") or {}).get("coding", [])), "")
        decided = next((c.get("code", "") for c in (output.get("valueCodeableConcept") or {}).get("coding", [])), "")
        asked.append(f"{item}={decided}" if decided else item)
    return {
        "id": str(task.get("id", "")),
        "updated": str((task.get("meta") or {}).get("lastUpdated", "")),
        "status": str(task.get("status", "")),
        "requester": requester,
        "purpose": purpose or str((task.get("reasonCode") or {}).get("text", "")),
        "items": " ".join(asked),
        "subject": _subject(task),
        "request": next((str(i.get("value")) for i in task.get("identifier", []) if i.get("value")), ""),
    }


def _checked(task_id: str) -> str:
    if not _FHIR_ID.match(task_id):
        raise ReviewError(f"'{task_id[:64]}' is not a Task id (letters, digits, '-' and '.'; see mais review list)")
    return task_id


class ReviewClient:
    """The review queue of one node, as one reviewer system (a SMART Backend Services client)."""

    def __init__(self, server: str, credentials: Credentials, *, http: httpx.Client | None = None) -> None:
        self.node = EnquiryClient(server, credentials.client_id, credentials.private_jwk, http=http)
        self._token: str | None = None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._token is None:
            self._token = self.node.token(REVIEWER_SCOPE)
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/fhir+json"}
        if "content" in kwargs:
            headers["Content-Type"] = "application/fhir+json"
        # A next link names the node's public base; the token goes only to --server, so its path is taken there.
        relative = path.split("/fhir/", 1)[1] if path.startswith(("http://", "https://")) and "/fhir/" in path else path
        url = f"{self.node.server}/fhir/{relative}"
        answer = self.node.http.request(method, url, headers=headers, **kwargs)
        if answer.status_code >= 400:
            try:
                issues = "; ".join(i.get("diagnostics", "") for i in answer.json().get("issue", []))
            except ValueError:
                issues = answer.text[:200]
            raise ReviewError(f"the node refused ({answer.status_code}): {issues[:300]}")
        return answer.json()

    def pending(self, count: int = 50) -> list[dict[str, Any]]:
        """Every enquiry awaiting review, oldest first: each page the node gives, so none is left unseen."""
        tasks: list[dict[str, Any]] = []
        url: str | None = f"Task?status=on-hold&_sort=_lastUpdated&_count={count}"
        while url:
            bundle = self._call("GET", url)
            tasks += [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]
            url = next((link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), None)
        return tasks

    def task(self, task_id: str) -> dict[str, Any]:
        task: dict[str, Any] = self._call("GET", f"Task/{_checked(task_id)}")
        return task

    def decide(self, task_id: str, decision: str, reason: str) -> dict[str, Any]:
        """Permit or deny a referred enquiry with a reason; the answered Task."""
        body = {
            "resourceType": "Parameters",
            "parameter": [{"name": "decision", "valueCode": decision}, {"name": "reason", "valueString": reason}],
        }
        task: dict[str, Any] = self._call("POST", f"Task/{_checked(task_id)}/$review", content=orjson.dumps(body))
        return task
