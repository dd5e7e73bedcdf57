"""HubSpot value parsing and record mapping (pure functions)."""

import datetime as dt

import pytest

from crm_connectors.hubspot.mapping import (
    UNRESOLVED,
    MappingError,
    PropertyDefinition,
    choose_parent,
    custom_properties,
    inline_single_target,
    map_record,
    merged_ids,
    parse_time,
    typed_value,
)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-01-05T10:11:12.345Z", dt.datetime(2026, 1, 5, 10, 11, 12, 345000, tzinfo=dt.UTC)),
        ("2026-01-05T10:11:12Z", dt.datetime(2026, 1, 5, 10, 11, 12, tzinfo=dt.UTC)),
        ("2026-01-05", dt.datetime(2026, 1, 5, tzinfo=dt.UTC)),
        ("1767225600000", dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
        ("", None),
        (None, None),
    ],
)
def test_parse_time_accepts_hubspot_variants(value, expected):
    assert parse_time(value, field="f") == expected


def test_parse_time_rejects_garbage_and_non_strings():
    with pytest.raises(MappingError) as info:
        parse_time("next tuesday", field="closedate")
    assert info.value.field == "closedate"
    with pytest.raises(MappingError):
        parse_time(12, field="closedate")


def test_typed_values():
    assert typed_value(PropertyDefinition("n", "number"), "42") == 42
    assert typed_value(PropertyDefinition("n", "number"), "87.5") == 87.5
    assert typed_value(PropertyDefinition("b", "bool"), "true") is True
    assert typed_value(PropertyDefinition("d", "date"), "1767225600000") == "2026-01-01"
    assert typed_value(PropertyDefinition("t", "datetime"), "2026-01-05T10:11:12Z") == "2026-01-05T10:11:12+00:00"
    assert typed_value(PropertyDefinition("m", "enumeration", "checkbox"), "a;b;") == ["a", "b"]
    assert typed_value(PropertyDefinition("e", "enumeration", "select"), "gold") == "gold"
    for definition, value in (
        (PropertyDefinition("n", "number"), "NaN"),
        (PropertyDefinition("n", "number"), "x"),
        (PropertyDefinition("b", "bool"), "yes"),
        (PropertyDefinition("s", "string"), 5),
    ):
        with pytest.raises(MappingError):
            typed_value(definition, value)


def test_custom_properties_skip_hubspot_defined_and_archived():
    custom = custom_properties(
        [
            {"name": "email", "type": "string", "hubspotDefined": True},
            {"name": "tier", "type": "enumeration", "fieldType": "select"},
            {"name": "old", "type": "string", "archived": True},
        ]
    )
    assert custom == {"tier": PropertyDefinition("tier", "enumeration", "select")}


def test_contact_mapping_missing_values_and_custom_stage():
    raw = {
        "id": 501,
        "properties": {
            "email": " ana@example.com ",
            "lifecyclestage": "1234567",
            "jobtitle": None,
            "lastmodifieddate": "2026-01-05T10:11:12.345Z",
            "tier": "gold",
        },
        "updatedAt": "2026-01-05T10:11:12.345Z",
    }
    record = map_record(
        "contacts", raw, custom={"tier": PropertyDefinition("tier", "string")}, parents={"company_external_id": None}
    )
    assert record["external_id"] == "501"
    assert record["email"] == "ana@example.com" and record["job_title"] == ""
    assert record["lifecycle_stage"] == "other"  # a portal's own stage id
    assert record["properties"] == {"tier": "gold"}
    assert record["remote_updated_at"] == dt.datetime(2026, 1, 5, 10, 11, 12, 345000, tzinfo=dt.UTC)
    assert record["company_external_id"] is None


def test_company_and_deal_fallbacks():
    company = map_record("companies", {"id": "9", "properties": {"domain": "acme.test"}}, custom={}, parents={})
    assert company["name"] == "acme.test"
    deal = map_record("deals", {"id": "7", "properties": {"dealstage": "closedlost"}}, custom={}, parents={})
    assert (deal["name"], deal["status"]) == ("HubSpot deal 7", "lost")
    custom_pipeline = {"dealstage": "12345", "hs_is_closed_won": "false", "hs_is_closed": "true"}
    assert map_record("deals", {"id": "8", "properties": custom_pipeline}, custom={}, parents={})["status"] == "lost"


def test_wrong_shapes_raise_mapping_errors():
    with pytest.raises(MappingError):
        map_record("contacts", ["not", "a", "record"], custom={}, parents={})
    with pytest.raises(MappingError):
        map_record("contacts", {"id": "1", "properties": "oops"}, custom={}, parents={})
    with pytest.raises(MappingError) as info:
        map_record("contacts", {"id": "1", "properties": {"firstname": 5}}, custom={}, parents={})
    assert info.value.field == "firstname"
    with pytest.raises(MappingError):
        map_record("notes", {"id": "1", "properties": {}}, custom={}, parents={})  # no time at all


def test_merged_ids_and_parent_choice():
    assert merged_ids({"properties": {"hs_merged_object_ids": "5;6; "}}) == ["5", "6"]
    assert merged_ids({"properties": {}}) == []
    assert choose_parent("contacts", "companies", [("3", {279}), ("9", {279, 1})]) == "9"  # primary wins
    assert choose_parent("notes", "contacts", [("30", {202}), ("4", {202})]) == "4"
    assert choose_parent("notes", "contacts", []) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"associations": {"companies": {"results": [{"id": "9", "type": "contact_to_company"}]}}}, "9"),
        # The primary target is listed once per label: still one target.
        ({"associations": {"companies": {"results": [{"id": "9", "type": "a"}, {"id": "9", "type": "b"}]}}}, "9"),
        ({"associations": {"deals": {"results": [{"id": "3", "type": "x"}]}}}, None),  # none of this type
        ({"associations": {"companies": {"results": []}}}, None),
        # Several targets: only v4 type ids say which is primary.
        (
            {"associations": {"companies": {"results": [{"id": "9", "type": "a"}, {"id": "8", "type": "a"}]}}},
            UNRESOLVED,
        ),
        ({"associations": {"companies": {"results": [{"id": "9"}], "paging": {"next": {"after": "1"}}}}}, UNRESOLVED),
        ({"associations": {"companies": {"results": [{"type": "a"}]}}}, UNRESOLVED),
        ({"associations": {"companies": "9"}}, UNRESOLVED),
        ({}, UNRESOLVED),  # nothing inline at all: never read as "no parent"
    ],
)
def test_inline_single_target(raw, expected):
    target = inline_single_target(raw, "companies")
    if expected is None or expected is UNRESOLVED:
        assert target is expected
    else:
        assert target == expected
