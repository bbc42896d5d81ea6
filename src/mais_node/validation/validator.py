"""The profile-driven validator behind ``$validate`` and the enquiry's 422 (FHIR R4 §Validation).

Every rule comes from a compiled StructureDefinition; every problem is an ``Issue`` with a FHIRPath location;
all of them are returned, not only the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mais_node.errors import Issue, NotFound
from mais_node.terminology import TerminologyService
from mais_node.validation.instance import Node, children, slice_of
from mais_node.validation.memo import DEFAULT_SIZE, InvariantMemo
from mais_node.validation.plan import ElementRule, Plan, Slicing, Step, Steps, TypeRule
from mais_node.validation.registry import ProfileRegistry
from mais_node.validation.rules import check_binding, check_invariants, check_values, reference_target
from mais_node.validation.structure import check_structure


class Validator:
    """Validates resources against the registry's profiles, checking codes through the terminology service.

    Invariant verdicts are memoised in a bounded LRU of ``memo_size`` entries (``memo``); 0 evaluates every one."""

    def __init__(
        self,
        registry: ProfileRegistry,
        terminology: TerminologyService,
        *,
        structure: bool = True,
        memo_size: int = DEFAULT_SIZE,
    ):
        self._registry = registry
        self._terminology = terminology
        self._structure = structure
        self._memo = InvariantMemo(memo_size) if memo_size > 0 else None

    def validate(self, resource: Mapping[str, Any], profile_url: str | None = None) -> list[Issue]:
        """Every issue: base structure, then the named profile, else those in ``meta.profile``, else the profile the
        node declares for the type (``supportedProfile``), when it declares one."""
        issues = check_structure(resource) if self._structure else []
        kind = str(resource.get("resourceType", "Resource"))
        root = Node(resource, kind)
        if profile_url is not None:
            profiles = [profile_url]
        else:
            meta = resource.get("meta")
            declared = meta.get("profile", []) if isinstance(meta, Mapping) else []
            profiles = [url for url in declared if isinstance(url, str)]
            if not profiles:
                profiles = self._declared(kind, issues)
        seen: set[tuple[str, str]] = set()
        for url in profiles:
            if url not in self._registry:
                if profile_url is not None:
                    raise NotFound(f"no profile {url}")
                issues.append(Issue(f"profile {url} is not known here", "not-supported", "warning", ("meta",)))
                continue
            _Run(self, self._registry.plan(url), root, root, issues, seen).check()
        return issues

    def _declared(self, kind: str, issues: list[Issue]) -> list[str]:
        """The one profile declared for the type; with several (Parameters: the operation's input and output) a
        resource cannot be meant for all of them, so the caller is told to name one."""
        supported = self._registry.profiles_for(kind)
        if len(supported) > 1:
            names = ", ".join(supported)
            issues.append(
                Issue(f"checked against R4 only: name one of {names} as 'profile'", "informational", "information")
            )
            return []
        return list(supported)

    def apply(self, url: str, node: Node, container: Node, issues: list[Issue], seen: set[tuple[str, str]]) -> None:
        """Validate a nested value (extension, contained or inline resource) against its profile."""
        if url in self._registry and (node.path, url) not in seen:
            _Run(self, self._registry.plan(url), node, container, issues, seen).check()

    @property
    def terminology(self) -> TerminologyService:
        return self._terminology

    @property
    def registry(self) -> ProfileRegistry:
        return self._registry

    @property
    def memo(self) -> InvariantMemo | None:
        return self._memo


class _Run:
    """One profile applied to one value: each element path's nodes are found once, shared by the rules."""

    def __init__(
        self,
        validator: Validator,
        plan: Plan,
        root: Node,
        container: Node,
        issues: list[Issue],
        seen: set[tuple[str, str]],
    ) -> None:
        self._validator, self._plan, self._container = validator, plan, container
        self._issues, self._seen = issues, seen
        self._root = root
        self._nodes: dict[Steps, list[Node]] = {(): [root]}
        self._kids: dict[tuple[str, Step], list[Node]] = {}
        self._members: dict[tuple[str, int, str], bool] = {}
        seen.add((root.path, plan.url))

    def check(self) -> None:
        kind = self._root.value.get("resourceType") if isinstance(self._root.value, Mapping) else None
        if kind is not None and kind != self._plan.type:
            self._report(
                f"a {kind} cannot conform to {self._plan.url} (a {self._plan.type} profile)",
                "invalid",
                self._root.path,
            )
            return
        for rule in self._plan.rules:
            if rule.steps and (rule.min or rule.max is not None):
                self._cardinality(rule)
            nodes = self._nodes_at(rule.steps)
            has_values = rule.fixed is not None or rule.pattern is not None
            for node in nodes:
                if has_values:
                    self._issues.extend(check_values(rule, node))
                if rule.binding:
                    self._issues.extend(check_binding(rule.binding, node, self._validator.terminology))
                if rule.invariants:
                    self._issues.extend(check_invariants(rule.invariants, node, self._validator.memo))
                for type_rule in rule.types:
                    self._check_type(rule, type_rule, node)
        self._closed_slicings()

    def _nodes_at(self, steps: Steps) -> list[Node]:
        found = self._nodes.get(steps)
        if found is None:
            parent_steps = steps[:-1]
            found = [child for parent in self._nodes_at(parent_steps) for child in self._step(parent, steps)]
            self._nodes[steps] = found
        return found

    def _step(self, parent: Node, steps: Steps) -> list[Node]:
        """The children of one parent on the last step (narrowed to its slice), found once per run."""
        step = steps[-1]
        key = (parent.path, step)
        found = self._kids.get(key)
        if found is None:
            if step.slice is None:
                found = children(parent, step.name)
            else:
                whole = (*steps[:-1], Step(step.name))
                slicing = self._plan.slicings.get(whole)
                if slicing is None:
                    found = []
                else:
                    found = [item for item in self._step(parent, whole) if self._in_slice(item, slicing, step.slice)]
            self._kids[key] = found
        return found

    def _in_slice(self, item: Node, slicing: Slicing, name: str) -> bool:
        """Slice membership, decided once per item and slice (the closed-slicing check asks again)."""
        key = (item.path, id(slicing), name)
        member = self._members.get(key)
        if member is None:
            member = slice_of(item, slicing, name)
            self._members[key] = member
        return member

    def _cardinality(self, rule: ElementRule) -> None:
        parent_steps, step = rule.steps[:-1], rule.steps[-1]
        label = f"{step.name}:{step.slice}" if step.slice else step.name
        for parent in self._nodes_at(parent_steps):
            count = len(self._step(parent, rule.steps))
            too_few = count < rule.min if rule.min else False
            too_many = rule.max is not None and count > rule.max
            if not (too_few or too_many):
                continue
            where = f"{parent.path}.{step.name.removesuffix('[x]')}"
            if too_few:
                self._report(
                    f"{label} is required: at least {rule.min} (found {count}) by {rule.id}",
                    "required",
                    where,
                )
            if too_many:
                self._report(f"{label} allows at most {rule.max} (found {count}) by {rule.id}", "structure", where)

    def _check_type(self, rule: ElementRule, type_rule: TypeRule, node: Node) -> None:
        if node.type is not None:
            allowed = {t.code for t in rule.types}
            if node.type not in allowed:
                if type_rule is rule.types[0]:
                    expected = " or ".join(sorted(allowed))
                    self._report(f"{node.type} is not allowed here: {rule.id} is {expected}", "structure", node.path)
                return
            if node.type != type_rule.code:
                return
        if not isinstance(node.value, Mapping):
            return
        if type_rule.code == "Reference" and type_rule.target_profiles:
            self._check_reference(type_rule, node)
        for url in type_rule.profiles:
            self._validator.apply(
                url,
                node,
                self._container if type_rule.code == "Extension" else node,
                self._issues,
                self._seen,
            )

    def _check_reference(self, type_rule: TypeRule, node: Node) -> None:
        registry = self._validator.registry
        kinds = {
            registry.plan(url).type if url in registry else url.rsplit("/", 1)[-1] for url in type_rule.target_profiles
        }
        target, problem = reference_target(node, self._container, kinds)
        if problem:
            self._report(problem, "invalid", f"{node.path}.reference")
        elif target is not None:
            kind = target.value.get("resourceType")
            for url in type_rule.target_profiles:
                if url in registry and registry.plan(url).type == kind:
                    self._validator.apply(url, target, target, self._issues, self._seen)

    def _closed_slicings(self) -> None:
        for steps, slicing in self._plan.slicings.items():
            if slicing.rules != "closed":
                continue
            for node in self._nodes_at(steps):
                if not any(self._in_slice(node, slicing, s.name) for s in slicing.slices):
                    names = ", ".join(s.name for s in slicing.slices)
                    self._report(f"matches no slice ({names}) and the slicing is closed", "structure", node.path)

    def _report(self, diagnostics: str, code: str, where: str, severity: str = "error") -> None:
        self._issues.append(Issue(diagnostics, code, severity, (where,)))
