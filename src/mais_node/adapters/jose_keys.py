"""Key files for ``mais keys generate``: a private JWK (file mode 0600) and the public JWKS beside it (joserfc).

A partner registers the public JWKS with ``mais client add --jwks``; the private key stays with its system.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import orjson
from joserfc.jwk import ECKey, RSAKey

from mais_node.errors import InvalidRequest, VersionConflict

Algorithm = Literal["ES384", "RS384"]


def generate_private_jwk(alg: Algorithm = "ES384") -> dict[str, Any]:
    """A new private JWK for a client assertion algorithm: P-384 for ES384, RSA 3072 for RS384."""
    key: ECKey | RSAKey = ECKey.generate_key("P-384", private=True) if alg == "ES384" else RSAKey.generate_key(3072)
    return key.as_dict(private=True) | {"kid": key.thumbprint(), "alg": alg, "use": "sig"}


def public_jwks(private_jwk: dict[str, Any]) -> dict[str, Any]:
    """The JWK Set with the public half of ``private_jwk`` (what the node registers)."""
    key = ECKey.import_key(private_jwk) if private_jwk["kty"] == "EC" else RSAKey.import_key(private_jwk)
    extras = {k: private_jwk[k] for k in ("kid", "alg", "use") if k in private_jwk}
    return {"keys": [key.as_dict(private=False) | extras]}


def write_key_pair(directory: Path, alg: Algorithm = "ES384", *, replace: bool = False) -> tuple[Path, Path, str]:
    """Write ``private-<kid>.jwk.json`` (0600) and ``jwks.json``; the paths and the kid.

    A directory that already holds a key pair is refused unless ``replace``: a new ``jwks.json`` written over the
    registered one would leave the private key in use without its public half, silently.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if not replace and (directory / "jwks.json").exists():
        raise VersionConflict(
            f"{directory} already holds a key pair (jwks.json): choose another --out, an empty directory"
        )
    private = generate_private_jwk(alg)
    kid = str(private["kid"])
    private_path = directory / f"private-{kid[:16]}.jwk.json"
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(orjson.dumps(private, option=orjson.OPT_INDENT_2))
    os.chmod(private_path, 0o600)  # whatever the umask
    public_path = directory / "jwks.json"
    public_path.write_bytes(orjson.dumps(public_jwks(private), option=orjson.OPT_INDENT_2))
    return private_path, public_path, kid


def read_private_jwk(path: Path, made_by: str = "mais keys generate") -> dict[str, Any]:
    """The private JWK in ``path``; a file that holds anything else is refused, saying what it holds instead and
    which command (``made_by``) writes the right one."""
    wanted = f"pass the private-<kid>.jwk.json file that `{made_by}` wrote"
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidRequest(f"cannot read the key file {path} ({exc.strerror}): {wanted}") from exc
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the key file {path} is not JSON: {wanted}") from exc
    if isinstance(document, dict) and "keys" in document:
        raise InvalidRequest(f"the key file {path} is a JWK Set (the public keys the node registers): {wanted}")
    if not isinstance(document, dict) or document.get("kty") not in ("EC", "RSA"):
        raise InvalidRequest(f"the key file {path} holds no EC or RSA JWK: {wanted}")
    if "d" not in document:
        raise InvalidRequest(f"the key file {path} holds a public key, not the private one: {wanted}")
    return document
