"""Who a single view asks (issue 15 item 3): the register's active, verified partners with an active Endpoint whose
type the shipped purpose-to-organisation-type ConceptMap lists for the purpose, or exactly the targets named; a
NOT_ASKED row with the reason for everyone else."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import orjson

from mais_node.config import DEFAULTS
from mais_node.network.model import NationalEndpoint
from mais_node.network.peers import Partner
from mais_node.network.rows import RowState
from mais_node.network.targets import relevance, select, still_askable
from mais_node.register.model import Organisation
from tests.registers import an_organisation

MAP = DEFAULTS / "terminology" / "ConceptMap-purpose-to-organisation-type.json"
RELEVANT = relevance(orjson.loads(MAP.read_bytes()))


@dataclass
class Listing:
    orgs: list[Organisation] = field(default_factory=list)
    endpoints_by_ods: dict[str, list[NationalEndpoint]] = field(default_factory=dict)

    def add(self, ods: str, kind: str, *, endpoint: str | None = "active", **changes: object) -> None:
        self.orgs.append(an_organisation(ods, type=kind, **changes))
        if endpoint is not None:
            address = f"https://{ods.lower()}.example/fhir"
            self.endpoints_by_ods[ods] = [NationalEndpoint(f"ep-{ods}", ods, address, status=endpoint)]

    def organisations(self) -> list[Organisation]:
        return list(self.orgs)

    def endpoints(self, ods: str) -> list[NationalEndpoint]:
        return self.endpoints_by_ods.get(ods, [])


def network() -> Listing:
    listing = Listing()
    listing.add("LA0001", "la-childrens-social-care")  # this node's own organisation
    listing.add("POL001", "police")
    listing.add("GP0001", "gp")
    listing.add("SCH001", "school")
    listing.add("HV0001", "health-visiting")
    listing.add("LA0002", "la-childrens-social-care")
    listing.add("HOU001", "housing")
    listing.add("POL002", "police", operational_status="suspended")
    listing.add("POL003", "police", verification_status="unverified")
    listing.add("POL004", "police", endpoint=None)
    listing.add("POL005", "police", endpoint="off")
    listing.add("POL006", "police", suspended_here=True)
    return listing


def reasons(selection_rows: list[object]) -> dict[str, str]:
    return {r.organisation: r.verdict.reason for r in selection_rows}  # type: ignore[attr-defined]


def test_the_shipped_map_lists_the_partners_of_a_section_47_enquiry() -> None:
    assert {"police", "health-visiting", "gp", "camhs", "school", "la-childrens-social-care"} <= RELEVANT["s47-enquiry"]
    assert "housing" not in RELEVANT["s47-enquiry"]


def test_a_section_47_view_asks_the_relevant_active_partners_and_says_why_not_the_rest() -> None:
    chosen = select(network(), purpose="s47-enquiry", relevant=RELEVANT, own_ods="LA0001")
    assert [p.ods for p in chosen.partners] == ["GP0001", "HV0001", "LA0002", "POL001", "SCH001"]
    assert chosen.partners[3] == Partner("POL001", "Organisation POL001", "https://pol001.example/fhir")
    assert {r.state for r in chosen.not_asked} == {RowState.NOT_ASKED}
    why = reasons(chosen.not_asked)
    assert why == {
        "HOU001": "not relevant to s47-enquiry (housing)",
        "POL002": "organisation POL002 is operationally suspended",
        "POL003": "organisation POL003 is unverified",
        "POL004": "no active Endpoint in the register",
        "POL005": "no active Endpoint in the register",
        "POL006": "organisation POL006 is suspended at this node",
    }
    assert "LA0001" not in why  # a node never asks itself


def test_named_targets_are_asked_exactly_and_unknown_ones_said_so() -> None:
    chosen = select(
        network(),
        purpose="s47-enquiry",
        relevant=RELEVANT,
        own_ods="LA0001",
        targets=["pol001", "HOU001", "XX9999", "POL002", "LA0001"],
    )
    assert [p.ods for p in chosen.partners] == ["HOU001", "POL001"]  # named: asked whatever its type
    assert reasons(chosen.not_asked) == {
        "LA0001": "this node's own organisation",
        "POL002": "organisation POL002 is operationally suspended",
        "XX9999": "not in the national register",
    }


def test_a_purpose_the_map_does_not_list_asks_no_one_and_says_so_for_each() -> None:
    chosen = select(network(), purpose="unknown-purpose", relevant=RELEVANT, own_ods="LA0001")
    assert chosen.partners == []
    assert len(chosen.not_asked) == len(network().orgs) - 1


def test_a_partner_suspended_after_selection_is_no_longer_askable() -> None:
    listing = network()
    partner = select(listing, purpose="s47-enquiry", relevant=RELEVANT, own_ods="LA0001").partners[3]
    assert still_askable(listing, partner) is None
    listing.orgs = [replace(o, suspended_here=True) if o.ods == "POL001" else o for o in listing.orgs]
    assert still_askable(listing, partner) == (
        "organisation POL001 is suspended at this node (since the partners were selected)"
    )


LEEDS, BRADFORD = "E08000035", "E08000032"


def network_with_areas() -> Listing:
    listing = network()
    served = {"POL001": (LEEDS, BRADFORD), "GP0001": (LEEDS,), "HV0001": (BRADFORD,), "POL002": (LEEDS,)}
    listing.orgs = [replace(o, areas=served.get(o.ods, ())) for o in listing.orgs]
    return listing


def test_an_area_narrows_the_partners_to_those_serving_it_and_says_why_not_the_others() -> None:
    chosen = select(network_with_areas(), purpose="s47-enquiry", relevant=RELEVANT, own_ods="LA0001", area=LEEDS)
    assert [p.ods for p in chosen.partners] == ["GP0001", "POL001"]
    assert chosen.partners[1].areas == (LEEDS, BRADFORD)
    assert chosen.partners[1].type == "police"
    why = reasons(chosen.not_asked)
    assert why["HV0001"] == f"does not serve area {LEEDS} (serves {BRADFORD})"
    assert why["SCH001"] == f"does not serve area {LEEDS} (records no area served)"
    assert why["HOU001"] == "not relevant to s47-enquiry (housing)"  # relevance is said first
    assert why["POL002"] == "organisation POL002 is operationally suspended"  # serves Leeds, but suspended
    assert len(chosen.partners) + len(chosen.not_asked) == len(network().orgs) - 1  # a row for everyone else


def test_an_area_narrows_the_partners_named_too() -> None:
    chosen = select(
        network_with_areas(),
        purpose="s47-enquiry",
        relevant=RELEVANT,
        own_ods="LA0001",
        targets=["hv0001", "POL001"],
        area=BRADFORD,
    )
    assert [p.ods for p in chosen.partners] == ["HV0001", "POL001"]
    chosen = select(
        network_with_areas(),
        purpose="s47-enquiry",
        relevant=RELEVANT,
        own_ods="LA0001",
        targets=["GP0001"],
        area=BRADFORD,
    )
    assert chosen.partners == []
    assert reasons(chosen.not_asked) == {"GP0001": f"does not serve area {BRADFORD} (serves {LEEDS})"}


def test_without_an_area_the_areas_play_no_part() -> None:
    with_areas = select(network_with_areas(), purpose="s47-enquiry", relevant=RELEVANT, own_ods="LA0001")
    without = select(network(), purpose="s47-enquiry", relevant=RELEVANT, own_ods="LA0001")
    assert [p.ods for p in with_areas.partners] == [p.ods for p in without.partners]
