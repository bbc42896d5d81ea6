"""The requesting side (``mais enquire``): a SMART Backend Services client that gets a token with a signed
client assertion (RFC 7523, private_key_jwt), sends ``$person-info-query`` and returns the answer.

MAIS asks requesters to keep their own record: given a store, what was sent and received is written to its audit
trail (the request and the response, base64, after the BALP Query pattern).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from mais_node.errors import InvalidRequest, MaisError, NotAuthenticated, NotFound, RateLimited, Unavailable

NHS = "https://fhir.nhs.uk/Id/nhs-number"
PURPOSE_SYSTEM = "https://mais.example.org/fhir/CodeSystem/request-asserted-purpose"
SDS_USER = "https://fhir.nhs.uk/Id/sds-user-id"
POLL_SCOPE = "system/Task.r"  # reading one's own enquiry Task: what following a referral needs


@dataclass(frozen=True)
class Subject:
    nhs_number: str | None = None
    family: str | None = None
    given: str | None = None
    birth_date: str | None = None
    postcode: str | None = None

    def patient(self) -> dict[str, Any]:
        patient: dict[str, Any] = {"resourceType": "Patient"}
        if self.nhs_number:
            # People write an NHS number 3-3-4 ("999 131 6825"); on the wire it is the ten digits alone.
            patient["identifier"] = [{"system": NHS, "value": "".join(self.nhs_number.split())}]
        if self.family or self.given:
            name: dict[str, Any] = {"use": "official"}
            if self.family:
                name["family"] = self.family
            if self.given:
                name["given"] = [self.given]
            patient["name"] = [name]
        if self.birth_date:
            patient["birthDate"] = self.birth_date
        if self.postcode:
            patient["address"] = [{"postalCode": self.postcode}]
        return patient


def client_assertion(client_id: str, token_url: str, private_jwk: dict[str, Any]) -> str:
    """A signed JWT naming this client to the token endpoint (SMART Backend Services §4.1.2)."""
    key = ECKey.import_key(private_jwk) if private_jwk["kty"] == "EC" else RSAKey.import_key(private_jwk)
    alg = private_jwk.get("alg") or ("ES384" if private_jwk["kty"] == "EC" else "RS384")
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": now + 240,
        "iat": now,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": alg, "kid": private_jwk.get("kid"), "typ": "JWT"}, claims, key, algorithms=[alg])


@dataclass(frozen=True)
class User:
    """The person at the requesting system on whose behalf it asks (MAIS IG Request ``authorisedUser``)."""

    identifier: str | None = None
    name: str | None = None
    role: str | None = None
    system: str = SDS_USER

    def parameter(self) -> dict[str, Any] | None:
        parts: list[dict[str, Any]] = []
        if self.identifier:
            parts.append({"name": "identifier", "valueIdentifier": {"system": self.system, "value": self.identifier}})
        if self.name:
            parts.append({"name": "name", "valueString": self.name})
        if self.role:
            parts.append({"name": "role", "valueString": self.role})
        return {"name": "authorisedUser", "part": parts} if parts else None


def enquiry_parameters(
    subject: Subject, reason: str, items: list[str], policies: list[str], user: User | None = None
) -> dict[str, Any]:
    reason_param: dict[str, Any] = {"name": "reason"}
    if reason.startswith("http"):
        reason_param["valueUri"] = reason
    else:
        reason_param["valueCoding"] = {"system": PURPOSE_SYSTEM, "code": reason}
    parameters = [{"name": "resource", "resource": subject.patient()}, reason_param]
    parameters += [{"name": "requestedItem", "valueCode": item} for item in items]
    parameters += [{"name": "sharingPolicy", "valueString": policy} for policy in policies]
    asserted = user.parameter() if user else None
    if asserted:
        parameters.append(asserted)
    return {"resourceType": "Parameters", "parameter": parameters}


def node_url(server: str) -> str:
    """The node's base URL from what a person typed: its FHIR base (``…/fhir``) is taken as the node it names."""
    url = server.strip().rstrip("/")
    parsed = httpx.URL(url) if url.startswith(("http://", "https://")) else None
    if parsed is None or not parsed.host:
        raise InvalidRequest(
            f"--server {server!r} is not the node's URL: give its base URL, e.g. http://127.0.0.1:8080",
            expression=("server",),
        )
    return url.removesuffix("/fhir")


class EnquiryClient:
    def __init__(
        self, server: str, client_id: str, private_jwk: dict[str, Any], *, http: httpx.Client | None = None
    ) -> None:
        self.server = node_url(server)
        self.client_id = client_id
        self.private_jwk = private_jwk
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=30)

    def token(self, scope: str = "mais/enquiry") -> str:
        discovery_url = f"{self.server}/fhir/.well-known/smart-configuration"
        discovery = self._send("GET", discovery_url)
        token_url = _token_endpoint(discovery)
        response = self._send(
            "POST",
            token_url,
            data={
                "grant_type": "client_credentials",
                "scope": scope,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": client_assertion(self.client_id, token_url, self.private_jwk),
            },
        )
        if response.status_code != 200:
            raise _token_refused(response, self.client_id)
        return str(response.json()["access_token"])

    def enquire(self, parameters: dict[str, Any]) -> httpx.Response:
        token = self.token()
        return self._send(
            "POST",
            f"{self.server}/fhir/Patient/$person-info-query",
            json=parameters,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
        )

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def __enter__(self) -> EnquiryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One exchange; a node that cannot be reached is an error naming it, not httpx's exception."""
        try:
            return self.http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            problem = f"cannot reach {self.server} ({exc})"
            raise Unavailable(f"{problem}: is the node running there? (check --server)") from exc


def _token_endpoint(discovery: httpx.Response) -> str:
    """SMART discovery (``/fhir/.well-known/smart-configuration``) names the token endpoint."""
    where = f"no SMART configuration at {discovery.request.url}"
    hint = "--server is the node's base URL, e.g. http://127.0.0.1:8080"
    if discovery.status_code != 200:
        raise NotFound(f"{where} ({discovery.status_code}): {hint}")
    try:
        return str(discovery.json()["token_endpoint"])
    except (ValueError, KeyError, TypeError) as exc:
        raise NotFound(f"{where} (the answer names no token_endpoint): {hint}") from exc


def _token_refused(response: httpx.Response, client_id: str) -> MaisError:
    """The token endpoint's OAuth error (RFC 6749 §5.2) as one sentence and what to check."""
    try:
        body = response.json()
        error, description = str(body.get("error", "")), str(body.get("error_description", ""))
    except (ValueError, AttributeError):
        error, description = "", response.text[:200]
    if response.status_code == 429:
        wait = response.headers.get("retry-after", "")
        retry_after = int(wait) if wait.isdigit() else 60
        return RateLimited(
            f"the node refused a token: too many requests; try again in {retry_after} s", retry_after=retry_after
        )
    if error == "invalid_client" and "unknown client" in description:
        advice = "check --client-id (the id `mais client add` printed for this system)"
    elif error == "invalid_client":
        advice = "check that --key is the private key of the JWKS registered for --client-id"
    elif error == "invalid_scope":
        advice = "ask only for scopes the system is registered with (`mais client list` shows them)"
    else:
        advice = "the node's operator can see why in its audit trail"
    said = f"{description} ({error})" if error else f"{response.status_code} {description}".strip()
    return NotAuthenticated(f"the node refused a token for client {client_id}: {said}; {advice}")


class Undecided(RuntimeError):
    """The referred enquiry was still awaiting an IG officer's decision when the wait ran out."""


def task_url(response: httpx.Response) -> str | None:
    """Where a referred enquiry's Task is polled: its own URL (``Content-Location``), not the version created."""
    url = response.headers.get("content-location") or response.headers.get("location")
    return str(url) if url else None


def follow(client: EnquiryClient, url: str, *, timeout: float, every: float = 2.0) -> dict[str, Any]:
    """Poll the Task at ``url`` until it is no longer on hold; the decided Task. Undecided past ``timeout``."""
    deadline = time.monotonic() + timeout
    try:
        token, got = client.token(POLL_SCOPE), time.monotonic()
    except RuntimeError as exc:
        raise RuntimeError(f"{exc} — following a referral needs the client registered with {POLL_SCOPE}") from None
    while True:
        if time.monotonic() - got > 240:  # tokens live 300 s: a long wait renews before expiry
            token, got = client.token(POLL_SCOPE), time.monotonic()
        answer = client.http.get(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"})
        if answer.status_code != 200:
            raise RuntimeError(f"the Task could not be read ({answer.status_code}): {_diagnostics(answer)}")
        task: dict[str, Any] = answer.json()
        if task.get("status") != "on-hold":
            return task
        if time.monotonic() + every > deadline:
            raise Undecided(f"still awaiting review after {timeout:g} s: poll {url}")
        time.sleep(every)


def _diagnostics(response: httpx.Response) -> str:
    try:
        return "; ".join(i.get("diagnostics", "") for i in response.json().get("issue", []))[:300]
    except ValueError:
        return response.text[:300]


def task_summary(task: dict[str, Any]) -> str:
    """One line for a decided enquiry Task: the outcome after review and what was released."""
    status = task.get("status")
    if status == "rejected":
        return "DENIED after review"
    if status != "completed":
        return f"{str(status).upper()}: {((task.get('businessStatus') or {}).get('text') or '')}".strip()
    contained = {r.get("id"): r for r in task.get("contained", [])}
    parts = ["PERMITTED after review:"]
    for output in task.get("output", []):
        item = next((c.get("code") for c in (output.get("type") or {}).get("coding", [])), "?")
        name = {"is-known": "match", "is-open": "open"}.get(str(item), str(item))
        if "valueBoolean" in output:
            parts.append(f"{name}={output['valueBoolean']}")
        elif "valueReference" in output:
            org = contained.get(str(output["valueReference"].get("reference", "")).lstrip("#"), {})
            phone = next((t.get("value") for t in org.get("telecom", [])), "")
            parts.append(f"contact={org.get('name')} {phone}".strip())
        else:
            concept = output.get("valueCodeableConcept") or {}
            parts.append(f"{name}={concept.get('text') or 'not given'}")
    return " ".join(parts)


def summary(response: httpx.Response) -> str:
    """One line a person at the requesting system can read: the outcome and what was released."""
    if response.status_code == 202:
        return f"REFERRED for review: poll {task_url(response)}"
    try:
        body = response.json()
    except ValueError:
        return f"REFUSED ({response.status_code}): {response.text[:200]}"
    if response.status_code != 200:
        issues = "; ".join(i.get("diagnostics", "") for i in body.get("issue", []))
        return f"{'DENIED' if response.status_code == 403 else 'REFUSED'} ({response.status_code}): {issues}"
    values = {p["name"]: p for p in body.get("parameter", [])}
    parts = [f"PERMITTED: match={values['match']['valueBoolean']}"]
    if "open" in values:
        parts.append(f"open={values['open']['valueBoolean']}")
    if "contact" in values:
        org = values["contact"]["resource"]
        phone = next((t.get("value") for t in org.get("telecom", [])), "")
        parts.append(f"contact={org.get('name')} {phone}".strip())
    return " ".join(parts)
