"""The composition root: open the adapters named by the settings and build the services on them.

The app factory and the CLI both build the node here, so a command and a request see the same parts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import orjson

from mais_node.adapters.identity_keys import IdentityKeys
from mais_node.adapters.jose_signer import KeyRingSigner
from mais_node.adapters.jwks_http import HttpJwksFetcher
from mais_node.audit.actors import Node
from mais_node.audit.checkpoint import Checkpointer
from mais_node.audit.group import GroupCommit
from mais_node.audit.port import AuditLog, AuditSink, CheckpointStore
from mais_node.audit.readiness import TrailReadiness
from mais_node.auth.keyring import NodeKeyRing
from mais_node.auth.services import AuthServices, RegisterStore, build_auth
from mais_node.clock import Clock, SystemClock
from mais_node.config import Settings
from mais_node.enquiry.gates import Gates
from mais_node.enquiry.persons import IndexedPersons
from mais_node.enquiry.records import ContractAgreements, EpisodeInvolvements, RegisterDirectory
from mais_node.enquiry.rules import RuleBook
from mais_node.enquiry.service import EnquiryService
from mais_node.errors import InvalidRequest, NotFound
from mais_node.fhir.kept import ChangeToken
from mais_node.fhir.service import ResourceService
from mais_node.matching.ports import PersonRows
from mais_node.network.national import NationalRegister
from mais_node.network.poller import Poller
from mais_node.network.ports import NetworkStore, RegisterSource
from mais_node.network.services import Network
from mais_node.network.signature import TrustedKeys
from mais_node.network.sync import RegisterImport
from mais_node.register.urls import is_https_or_loopback
from mais_node.storage.port import ResourceStore
from mais_node.terminology import CANONICAL_BASE
from mais_node.terminology.runtime import STORED as VOCABULARY_TYPES
from mais_node.terminology.runtime import Vocabularies
from mais_node.validation import ProfileRegistry, Validator
from mais_node.validation.records import declared_conformance


@dataclass
class Services:
    settings: Settings
    clock: Clock
    store: ResourceStore
    resources: ResourceService
    audit: AuditLog
    checkpoints: CheckpointStore
    vocabularies: Vocabularies
    profiles: ProfileRegistry
    rules: RuleBook
    persons: IndexedPersons
    enquiries: EnquiryService
    node: Node
    auth: AuthServices
    checkpointer: Checkpointer
    readiness: TrailReadiness
    closers: list[Callable[[], None]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    network: Network | None = None

    def validator(self) -> Validator:
        """A validator on the vocabularies in force (rebuilt only when they change)."""
        return _validator(self.profiles, self.vocabularies())

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.closers.clear()


@lru_cache(maxsize=4)
def _validator(profiles: ProfileRegistry, terminology: Any) -> Validator:
    return Validator(profiles, terminology)


def open_store(
    url: str, *, mongo_database: Any = None, read_only: bool = False
) -> tuple[ResourceStore, Any, Callable[[], None]]:
    """The resource store and audit log for ``sqlite:///PATH`` or ``mongodb://…`` (or an open pymongo database);
    ``read_only``: an SQLite file that is not there is not made (a mistyped path would read as an empty node)."""
    if mongo_database is None and (url.startswith("sqlite:///") or url == ":memory:"):
        from mais_node.storage.sqlite import SqliteDatabase, SqliteResourceStore
        from mais_node.storage.sqlite_audit import SqliteAuditLog

        path = url.removeprefix("sqlite:///")
        if read_only and url != ":memory:" and not Path(path).is_file():
            raise NotFound(f"There is no store at {path[:200]}: give the --store of an existing node")
        db = SqliteDatabase(url)
        audit = SqliteAuditLog(db.path)

        def close() -> None:
            audit.close()
            db.close()

        return SqliteResourceStore(db), audit, close
    if mongo_database is None and not url.startswith(("mongodb://", "mongodb+srv://")):
        raise InvalidRequest("MAIS_STORE must be sqlite:///PATH or mongodb://…", expression=("store",))
    from mais_node.storage.mongo import MongoResourceStore, connect
    from mais_node.storage.mongo_audit import MongoAuditLog

    database = mongo_database if mongo_database is not None else connect(url)
    return MongoResourceStore(database), MongoAuditLog(database), database.client.close  # type: ignore[arg-type]


def open_person_rows(store: ResourceStore) -> PersonRows:
    """The person index kept by the resource store (issue 17), on the same database."""
    from mais_node.storage.sqlite import SqliteResourceStore

    if isinstance(store, SqliteResourceStore):
        from mais_node.storage.sqlite_person_index import SqlitePersonRows

        return SqlitePersonRows(store.db)
    from mais_node.storage.mongo import MongoResourceStore

    if isinstance(store, MongoResourceStore):
        from mais_node.storage.mongo_person_index import MongoPersonRows

        return MongoPersonRows(store.db)
    raise InvalidRequest(f"No person index adapter for {type(store).__name__}")


class NodeStore(RegisterStore, NetworkStore, Protocol):
    """The register adapter: the auth services' ports and the network's, on the node's database."""


def open_register_store(store: ResourceStore) -> NodeStore:
    """The register adapter on the same database as the resource store."""
    from mais_node.storage.sqlite import SqliteResourceStore

    if isinstance(store, SqliteResourceStore):
        from mais_node.storage.sqlite_register import SqliteRegisterStore

        return SqliteRegisterStore(store.db)
    from mais_node.storage.mongo import MongoResourceStore

    if isinstance(store, MongoResourceStore):
        from mais_node.storage.mongo_register import MongoRegisterStore

        return MongoRegisterStore(store.db)
    raise InvalidRequest(f"No register adapter for {type(store).__name__}")


def build_services(
    settings: Settings, *, clock: Clock | None = None, mongo_database: Any = None, read_only: bool = False
) -> Services:
    """The node's services; ``read_only`` for a command that only reads: nothing is written on its behalf."""
    from mais_node.adapters.cedar import CedarPolicyEngine

    store, audit, close_store = open_store(settings.store, mongo_database=mongo_database, read_only=read_only)
    clock = clock or SystemClock()
    resources = ResourceService(
        store,
        clock,
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
        base=settings.fhir_base,
    )
    node = Node(settings.node_org, settings.node_org_name, settings.public_base, CANONICAL_BASE)
    # One change token for the vocabularies in force and the requester's register entries, read once an enquiry
    # (pinned with the vocabularies): a write of any of these types remakes both, in force for the next enquiry.
    kept_by = ChangeToken(store, (*VOCABULARY_TYPES, "Organization"))
    vocabularies = Vocabularies(resources, settings.terminology_dir, token=kept_by)
    profiles = ProfileRegistry.from_directory(settings.profiles_dir)
    agreements = ContractAgreements(resources)
    # Every writer appends through the checkpointer: every Nth record gets a checkpoint signed by the node's key.
    register_store = open_register_store(store)
    signer = KeyRingSigner(NodeKeyRing(register_store, clock))
    readiness = TrailReadiness(audit)
    checkpointer = Checkpointer(
        audit, audit, signer, clock, every=settings.checkpoint_every, on_failure=readiness.append_failed
    )
    rules = RuleBook(
        CedarPolicyEngine(),
        settings.rules_dir,
        agreements,
        node_ods=settings.node_org,
        audit=checkpointer,
        node=node,
        clock=clock,
    )
    persons = IndexedPersons(resources, open_person_rows(store))
    http = HttpJwksFetcher()
    national = NationalRegister(register_store)
    auth = build_auth(
        settings,
        store,
        resources,
        checkpointer,
        clock,
        jwks_fetcher=http,
        register_store=register_store,
        closers=[http.close],
        read_only=read_only,
        national=national,
    )
    network = build_network(settings, national, register_store, checkpointer, clock, node, read_only=read_only)

    def validator() -> Validator:
        return _validator(profiles, vocabularies())

    resources.conformance = declared_conformance(validator)
    gates = Gates(
        directory=RegisterDirectory(auth.organisations, kept_by),
        terminology=vocabularies,
        validator=validator,
        agreements=agreements,
        node_ods=settings.node_org,
    )
    # Enquiries served on the event loop await their records through one writer thread (audit/group.py).
    grouped = GroupCommit(checkpointer)
    enquiries = EnquiryService(
        gates=gates,
        rules=rules,
        terminology=vocabularies,
        matcher=persons,
        involvements=EpisodeInvolvements(resources),
        audit=checkpointer,
        node=node,
        clock=clock,
        grouped=grouped,
    )
    services = Services(
        settings=settings,
        clock=clock,
        store=store,
        resources=resources,
        audit=audit,
        checkpoints=audit,
        vocabularies=vocabularies,
        profiles=profiles,
        rules=rules,
        persons=persons,
        enquiries=enquiries,
        node=node,
        auth=auth,
        checkpointer=checkpointer,
        readiness=readiness,
        closers=[*auth.closers, *network.closers, close_store, grouped.close],
        network=network,
    )
    services.extras["identity"] = IdentityKeys(settings.identity_keys)
    return services


def register_trust(settings: Settings) -> TrustedKeys:
    """The authority's keys this node trusts; InvalidRequest saying what to set when the settings are wrong."""
    if settings.register_trust is None:
        raise InvalidRequest("MAIS_REGISTER_URL needs MAIS_REGISTER_TRUST (the authority's JWKS file)")
    if settings.register_url.startswith(("https://", "http://")) and not is_https_or_loopback(settings.register_url):
        raise InvalidRequest("MAIS_REGISTER_URL must use https (plain http only to this machine)")
    try:
        return TrustedKeys.from_jwks(orjson.loads(settings.register_trust.read_bytes()))
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InvalidRequest(f"MAIS_REGISTER_TRUST {settings.register_trust} is not a readable JWKS file") from exc


def build_network(
    settings: Settings,
    national: NationalRegister,
    store: NetworkStore,
    audit: AuditSink,
    clock: Clock,
    node: Node,
    *,
    read_only: bool = False,
) -> Network:
    """The national register's reader, and its import when ``MAIS_REGISTER_URL`` and ``MAIS_REGISTER_TRUST`` say so
    (never for a command that only reads: an import writes the register and its audit records)."""
    network = Network(national, store, interval=settings.register_sync_seconds)
    if not settings.register_url or read_only:
        return network
    trust = register_trust(settings)
    source: RegisterSource
    if settings.register_url.startswith(("https://", "http://")):
        from mais_node.adapters.register_http import HttpRegisterSource

        source = HttpRegisterSource(
            settings.register_url, max_bytes=settings.register_max_bytes, timeout=settings.register_timeout_seconds
        )
        network.closers.append(source.close)
    else:
        from mais_node.adapters.register_file import FileRegisterSource

        source = FileRegisterSource(Path(settings.register_url), max_bytes=settings.register_max_bytes)
    network.importer = RegisterImport(source, settings.register_url, trust, store, national, audit, clock, node)
    return network


def start_sync(services: Services) -> Poller | None:
    """``mais serve``'s background import of the national register, when this node has one to import."""
    network = services.network
    if network is None or network.importer is None or network.interval <= 0:
        return None
    poller = Poller(network.importer, network.interval)
    poller.start()
    return poller


def start(services: Services) -> None:
    """What a serving node does once at start: vocabularies in the store, rules in force, and the person index
    checked (built once, here, only for a store written before it existed)."""
    services.vocabularies.load_files()
    services.rules.refresh(force=True)
    services.persons.refresh()
