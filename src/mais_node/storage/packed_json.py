"""Resource JSON as the SQLite store keeps it: deflated against a preset dictionary (issue 17, disk at ten million).

A person's JSON is ~700 bytes and the store keeps it twice (the current row and its version), mostly the same keys,
URLs and codes in every row. Deflate primed with ``DICTIONARY`` (those strings, no one's data) keeps a Patient in
~120 bytes and a Task in ~250 (docs/decisions.md, "Resource JSON deflated against a preset dictionary").

A packed value is the byte ``0x01`` then a raw deflate stream made with ``DICTIONARY``. Anything else is JSON as the
store wrote it before packing (it begins with ``{``), or the empty value of a deletion, and is read as it is: a file
written by an earlier version is read without a migration, and its rows are packed as they are written again.
``DICTIONARY`` can never change, since every packed row needs it to be read (``tests/unit/storage/test_packed_json.py``
pins its digest); a better one would be a new marker byte beside this one.
"""

from __future__ import annotations

import zlib

PACKED = b"\x01"
_LEVEL = 1  # level 6 saves a few bytes a row for more time; the dictionary does the work
_WINDOW = -13  # raw deflate, 8 KiB window: the dictionary and a resource; making the 32 KiB state cost 10x the time
_MEMORY = 8
_SMALLEST = 64  # shorter JSON is kept as it is

DICTIONARY = (
    b'{"resourceType":"Organization","meta":{"profile":["https://mais.example.org/fhir/StructureDefini'
    b'tion/mais-organisation"],"lastUpdated":"2026-01-01T00:00:00.000Z","versionId":"1"},"extension":['
    b'{"url":"https://mais.example.org/fhir/StructureDefinition/mais-operational-status","valueCode":"'
    b'active"},{"url":"https://mais.example.org/fhir/StructureDefinition/mais-technical-status","value'
    b'Code":"active"},{"url":"https://mais.example.org/fhir/StructureDefinition/mais-verification-stat'
    b'us","valueCode":"verified"},{"url":"https://mais.example.org/fhir/StructureDefinition/mais-verif'
    b'ication-date","valueDate":"2026-01-01"}],"identifier":[{"system":"https://fhir.nhs.uk/Id/ods-org'
    b'anization-code","value":""}],"active":true,"type":[{"coding":[{"system":"https://mais.example.or'
    b'g/fhir/CodeSystem/organisation-type","code":""}]}],"name":"","id":""}{"resourceType":"Task","con'
    b'tained":[{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","'
    b'value":""}],"name":[{"use":"official","family":"","given":[""]}],"birthDate":"","id":"subject"},'
    b'{"resourceType":"PractitionerRole","id":"user"}],"identifier":[{"system":"https://mais.example.o'
    b'rg/fhir/Id/request-id","value":""}],"status":"on-hold","intent":"order","code":{"coding":[{"syst'
    b'em":"https://mais.example.org/fhir/CodeSystem/request-type","code":"is-known"}]},"for":{"referen'
    b'ce":"#subject"},"requester":{"reference":"#user"},"input":[{"type":{"coding":[{"system":"https:/'
    b'/mais.example.org/fhir/CodeSystem/enquiry-input-type","code":"requested-item"}]},"valueCodeableC'
    b'oncept":{"coding":[{"system":"https://mais.example.org/fhir/CodeSystem/request-type","code":"is-'
    b'open"}]}}],"authoredOn":"","reasonCode":{"text":"https://www.legislation.gov.uk/ukpga/1989/41/se'
    b'ction/47"},"businessStatus":{"coding":[{"system":"https://mais.example.org/fhir/CodeSystem/decis'
    b'ion","code":"review"}],"text":"REVIEW"},"owner":{"identifier":{"system":"https://fhir.nhs.uk/Id/'
    b'ods-organization-code","value":""}},"meta":{"tag":[{"system":"https://mais.example.org/fhir/requ'
    b'ester-org","code":""}]},"output":[{"type":{"coding":[{"system":"https://mais.example.org/fhir/Co'
    b'deSystem/request-type","code":"contact"}]},"valueCodeableConcept":{"coding":[{"system":"https://'
    b'mais.example.org/fhir/CodeSystem/decision","code":"review"}],"text":"REVIEW"}}]}{"resourceType":'
    b'"EpisodeOfCare","id":"","status":"active","patient":{"reference":"Patient/"},"managingOrganizati'
    b'on":{"reference":"Organization/"},"meta":{"lastUpdated":"2026-01-01T00:00:00.000Z","versionId":"'
    b'1"}}{"resourceType":"Patient","id":"","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number'
    b'","value":"","extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-N'
    b'HSNumberVerificationStatus","valueCodeableConcept":{"coding":[{"system":"https://fhir.hl7.org.uk'
    b'/CodeSystem/UKCore-NHSNumberVerificationStatusEngland","code":"01"}]}}]}],"name":[{"use":"offici'
    b'al","family":"","given":[""]},{"use":"usual","given":[""]},{"use":"old","family":""}],"gender":"'
    b'female","birthDate":"","_birthDate":{"extension":[{"url":"https://mais.example.org/fhir/Structur'
    b'eDefinition/mais-birth-date-accuracy","valueCode":"AAA"}]},"telecom":[{"system":"phone","value":'
    b'"","use":"home"}],"address":[{"use":"home","line":[""],"city":"","postalCode":""}],"meta":{"last'
    b'Updated":"2026-01-01T00:00:00.000Z","versionId":"1"}}'
)


# A compressor primed with the dictionary, copied for each value: a quarter less time than priming one each time, the
# same bytes (tests/unit/storage/test_packed_json.py).
_PRIMED = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WINDOW, _MEMORY, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)


def pack(json: bytes) -> bytes:
    """What the store writes for a resource's JSON (the empty value of a deletion stays empty)."""
    if len(json) < _SMALLEST:
        return json
    deflate = _PRIMED.copy()
    return PACKED + deflate.compress(json) + deflate.flush()


def unpack(stored: bytes) -> bytes:
    """The JSON of a stored value, packed or as written before packing."""
    if stored[:1] != PACKED:
        return bytes(stored)
    inflate = zlib.decompressobj(-15, DICTIONARY)  # the widest window reads a stream made with any narrower one
    json = inflate.decompress(memoryview(stored)[1:]) + inflate.flush()
    if not inflate.eof:
        raise zlib.error("a packed resource ends before its deflate stream does")
    return json
