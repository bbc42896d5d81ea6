"""The rules page (issue 16 §6): the rule set in force (its hash, when it was loaded, its files) and the results of
``mais policy test`` on the cases on disk (``tests`` beside the node's rules), run by the same service as the
command, for an administrator or IG officer. Opening it is audited with the person."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from starlette.responses import Response

from mais_node.audit import balp
from mais_node.auth.scopes import ADMIN, REVIEWER
from mais_node.console import rules_view as view
from mais_node.console.web import ConsoleDep, Visit, needs, render
from mais_node.errors import MaisError
from mais_node.policy_testing import run_policy_tests

router = APIRouter(prefix="/console/rules", include_in_schema=False)
KeeperDep = Annotated[Visit, needs(ADMIN, REVIEWER)]
CASES = "tests"


@router.get("")
async def rules(request: Request, console: ConsoleDep, visit: KeeperDep) -> Response:
    services = console.services
    directory = services.settings.rules_dir / CASES
    results, problem = None, ""
    if not directory.is_dir():
        problem = f"There are no policy-test cases beside the rules ({directory.name} is not a folder there)."
    else:
        try:
            results = view.results(run_policy_tests(services, directory))
        except MaisError as exc:
            problem = exc.diagnostics
    actor = console.person_actor(visit.person, address=visit.address)
    console.record(
        balp.console_action(
            services.node, services.clock.now(), actor, action="policy-test", target=str(directory.name)
        )
    )
    return render(
        request,
        "rules.html",
        visit=visit,
        in_force=view.in_force(services.rules.in_force),
        results=results,
        cases=str(directory),
        problem=problem,
    )
