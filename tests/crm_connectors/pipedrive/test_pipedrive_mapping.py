"""Pure mapping and boundary logic of the Pipedrive connector."""

import datetime as dt

import pytest

from crm_connectors.pipedrive import mapping
from crm_connectors.pipedrive.boundary import Boundary
from crm_connectors.pipedrive.html_text import html_to_text

T0 = dt.datetime(2026, 1, 5, 9, 0, 0, tzinfo=dt.UTC)


def _definition(field_type: str, options: dict | None = None) -> mapping.FieldDef:
    return mapping.FieldDef(code="x" * 40, name="Field", type=field_type, custom=True, options=options or {})


@pytest.mark.parametrize(
    ("field_type", "raw", "expected"),
    [
        ("int", 7, 7),
        ("int", "12", 12),
        ("double", "2.5", 2.5),
        ("double", 3, 3),
        ("monetary", {"value": 10, "currency": "EUR"}, {"value": 10, "currency": "EUR"}),
        ("boolean", True, True),
        ("date", "2026-02-28", "2026-02-28"),
        ("time", "09:30:00", "09:30:00"),
        ("varchar", "text", "text"),
        ("enum", 2, "Two"),
        ("enum", {"id": 2, "label": "Two"}, "Two"),
        ("enum", 99, "99"),  # an option deleted since: keep its id rather than lose the value
        ("set", [1, 2], ["One", "Two"]),
        ("set", "1,2", ["One", "Two"]),
        ("people", {"value": 5, "name": "Ada"}, 5),
        ("int", None, None),
    ],
)
def test_custom_values_are_typed_by_their_field(field_type, raw, expected):
    definition = _definition(field_type, {"1": "One", "2": "Two"})
    assert mapping.custom_value(definition, raw) == expected


@pytest.mark.parametrize(
    ("field_type", "raw"),
    [
        ("int", "twelve"),
        ("int", 1.5),
        ("int", True),
        ("double", "n/a"),
        ("boolean", "yes"),
        ("date", "28.02.2026"),
        ("varchar", 5),
        ("set", 3),
        ("time", "9 am"),
    ],
)
def test_values_that_do_not_fit_their_field_are_refused(field_type, raw):
    with pytest.raises((TypeError, ValueError)):
        mapping.custom_value(_definition(field_type), raw)


def test_custom_properties_use_field_names_and_tell_duplicate_names_apart():
    schema = mapping.fields_parse(
        [
            {"field_code": "name", "field_name": "Name", "field_type": "varchar", "is_custom_field": False},
            {"field_code": "a" * 40, "field_name": "Size", "field_type": "int", "is_custom_field": True},
            {"field_code": "b" * 40, "field_name": "Size", "field_type": "varchar", "is_custom_field": True},
        ]
    )
    properties = mapping.custom_properties({"a" * 40: 3, "b" * 40: "L", "c" * 40: "unknown key"}, schema)
    assert properties == {"Size": 3, "Size [bbbbbbbb]": "L", "c" * 40: "unknown key"}
    with pytest.raises(mapping.MappingError) as error:
        mapping.custom_properties({"a" * 40: "three"}, schema)
    assert error.value.field == "Size"


def test_person_maps_primary_email_and_keeps_job_title_absent_when_not_sent():
    contact = mapping.person_to_contact(
        {
            "id": 4,
            "name": "Ada Lovelace",
            "emails": [{"value": "home@x.test", "primary": False}, {"value": "work@x.test", "primary": True}],
            "phones": [],
            "org_id": None,
            "update_time": "2026-01-05T09:00:00Z",
            "add_time": "2025-12-01T08:00:00Z",
        },
        mapping.EMPTY_SCHEMA,
    )
    assert (contact["first_name"], contact["email"], contact["phone"], contact["company_external_id"]) == (
        "Ada Lovelace",
        "work@x.test",
        "",
        None,
    )
    assert "job_title" not in contact
    assert contact["remote_updated_at"] == T0
    with pytest.raises(mapping.MappingError, match="emails"):
        mapping.person_to_contact({"id": 4, "emails": "a@b.test"}, mapping.EMPTY_SCHEMA)


def test_open_deal_uses_the_expected_close_date_and_unknown_status_is_refused():
    deal = mapping.deal_to_deal(
        {
            "id": 9,
            "title": "Big",
            "status": "open",
            "expected_close_date": "2026-04-30",
            "stage_id": 3,
            "pipeline_id": 1,
            "close_time": None,
        },
        mapping.EMPTY_SCHEMA,
        pipelines={"1": "Sales"},
        stages={},
    )
    assert (deal["close_date"], deal["pipeline"], deal["stage"]) == ("2026-04-30", "Sales", "3")
    with pytest.raises(mapping.MappingError, match="status"):
        mapping.deal_to_deal({"id": 9, "status": "deleted"}, mapping.EMPTY_SCHEMA, pipelines={}, stages={})
    with pytest.raises(mapping.MappingError, match="expected_close_date"):
        mapping.deal_to_deal({"id": 9, "expected_close_date": "soon"}, mapping.EMPTY_SCHEMA, pipelines={}, stages={})


def test_activity_without_due_date_falls_back_to_done_time():
    activity = mapping.activity_to_activity(
        {"id": 1, "type": "custom_visit", "done": True, "marked_as_done_time": "2026-01-05T09:00:00Z"},
        kinds=mapping.ACTIVITY_KINDS,
    )
    assert (activity["kind"], activity["occurred_at"]) == ("task", T0)
    with pytest.raises(mapping.MappingError, match="due_time"):
        mapping.activity_to_activity({"id": 1, "due_date": "2026-01-05", "due_time": "25:99"}, kinds={})


def test_note_html_becomes_plain_text():
    assert html_to_text("<p>Hello&nbsp;<b>Ada</b></p><ul><li>one</li><li>two</li></ul><script>x()</script>") == (
        "Hello Ada\n\n- one\n\n- two"
    )
    assert html_to_text("plain") == "plain"


@pytest.mark.parametrize(
    ("website", "domain"),
    [
        ("https://www.Acme.com/about", "acme.com"),
        ("acme.io", "acme.io"),
        ("http://shop.acme.de:8080?x", "shop.acme.de"),
        ("", ""),
    ],
)
def test_website_domain(website, domain):
    assert mapping.website_domain(website) == domain


def test_boundary_skips_only_records_taken_at_its_instant():
    boundary = Boundary()
    boundary.advance(T0, "1")
    boundary.advance(T0, "2")
    restored = Boundary.load(boundary.dump())
    assert restored.dump() == {"since": "2026-01-05T09:00:00Z", "ids": ["1", "2"]}
    assert restored.seen(T0, "2") and not restored.seen(T0, "3")
    later = T0 + dt.timedelta(seconds=1)
    assert not restored.seen(later, "1")
    restored.advance(later, "1")
    assert restored.dump() == {"since": "2026-01-05T09:00:01Z", "ids": ["1"]}
