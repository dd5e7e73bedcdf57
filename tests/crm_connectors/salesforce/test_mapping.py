import pytest

from crm_connectors.salesforce import mapping


def _shape(sobject: str, custom: dict[str, str] | None = None) -> mapping.SObjectShape:
    fields = [{"name": name, "type": "string"} for name in mapping.STANDARD_FIELDS[sobject]]
    fields += [{"name": name, "type": kind} for name, kind in (custom or {}).items()]
    return mapping.shape_from_describe(sobject, {"fields": fields})


@pytest.mark.parametrize(
    ("website", "domain"),
    [
        ("https://www.Acme.com/about", "acme.com"),
        ("acme.io", "acme.io"),
        ("", ""),
        (None, ""),
        ("http://shop.x.de:8080", "shop.x.de"),
    ],
)
def test_website_domain(website, domain):
    assert mapping.website_domain(website) == domain


def test_describe_selects_only_fields_the_org_has_and_owner_email_through_the_relationship():
    describe = {
        "fields": [{"name": n, "type": "string"} for n in ("Id", "SystemModstamp", "FirstName", "OwnerId")]
        + [{"name": "Score__c", "type": "double"}, {"name": "Blob__c", "type": "base64"}]
    }
    shape = mapping.shape_from_describe("Contact", describe)
    assert shape.fields == ("Id", "FirstName", "Owner.Email", "SystemModstamp", "Score__c")
    assert shape.custom_types == {"Score__c": "double"}
    with pytest.raises(mapping.MappingError):
        mapping.shape_from_describe("Contact", {"fields": [{"name": "Id", "type": "id"}]})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"TaskSubtype": "Call", "CallType": "Inbound"}, ("call", "inbound")),
        ({"TaskSubtype": "Email"}, ("email", "outbound")),
        ({"TaskSubtype": "ListEmail"}, ("email", "outbound")),
        ({"TaskSubtype": "Task"}, ("task", None)),
        ({"TaskSubtype": None}, ("task", None)),
    ],
)
def test_task_kind_and_direction(raw, expected):
    record = mapping.record_map(
        _shape("Task"),
        {
            "Id": "00T000000000001AAA",
            "SystemModstamp": "2026-01-01T00:00:00.000+0000",
            "CreatedDate": "2025-12-31T09:30:00.000+0000",
            **raw,
        },
    )
    assert (record["kind"], record.get("direction")) == expected
    assert record["occurred_at"] == "2025-12-31T09:30:00+00:00"  # neither completed nor dated: created


def test_what_id_links_by_key_prefix_and_keeps_other_objects_in_properties():
    base = {
        "Id": "00U000000000001AAA",
        "SystemModstamp": "2026-01-01T00:00:00.000+0000",
        "StartDateTime": "2026-01-05T14:00:00.000+0000",
        "WhoId": "00Q000000000009AAA",
    }
    links = {"WhatId": "006000000000001AAA", "AccountId": "001000000000002AAA"}
    on_deal = mapping.record_map(_shape("Event"), {**base, **links})
    assert (on_deal["deal_external_id"], on_deal["company_external_id"]) == ("006000000000001AAA", "001000000000002AAA")
    assert on_deal["contact_external_id"] == "00Q000000000009AAA"  # a lead is a contact row too
    on_case = mapping.record_map(_shape("Event"), {**base, "WhatId": "500000000000001AAA"})
    assert (on_case["deal_external_id"], on_case["company_external_id"]) == (None, None)
    assert on_case["properties"] == {"WhatId": "500000000000001AAA"} and on_case["kind"] == "meeting"


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("int", 3.0, 3),
        ("double", 2, 2),
        ("boolean", False, False),
        ("date", "2026-02-01", "2026-02-01"),
        ("datetime", "2026-02-01T10:00:00.000+0000", "2026-02-01T10:00:00+00:00"),
        ("multipicklist", "a;b", ["a", "b"]),
        ("picklist", None, None),
    ],
)
def test_custom_fields_are_typed_by_describe(kind, value, expected):
    assert mapping.custom_properties({"X__c": kind}, {"X__c": value}) == {"X__c": expected}


@pytest.mark.parametrize(
    ("kind", "value"),
    [("int", 2.5), ("double", "7"), ("boolean", "true"), ("date", "tomorrow"), ("string", 12), ("double", True)],
)
def test_custom_field_of_the_wrong_type_is_a_mapping_error(kind, value):
    with pytest.raises(mapping.MappingError) as error:
        mapping.custom_properties({"X__c": kind}, {"X__c": value})
    assert error.value.field == "X__c"
