import datetime as dt
import json
from decimal import Decimal

import pytest
import yaml

from crm_connectors.base import ConnectorError
from crm_connectors.csv.connector import CsvConnector
from crm_connectors.registry import connector_class_get
from tests.crm_connectors.conftest import CSV_ORG_SLUG, basic_mapping, write_csv

PASSWD_COLUMNS = {"external_id": "a", "name": "b"}


def _bound(config, organization_slug=CSV_ORG_SLUG) -> CsvConnector:
    connector = CsvConnector(config=config, credentials={})
    connector.organization_slug = organization_slug
    return connector


def _connector(folder, mapping=None, **config) -> CsvConnector:
    return _bound({"path": str(folder), "mapping": mapping or basic_mapping(), **config})


def _pages(connector, object_type, cursor=None, full=False):
    return list(connector.iter_changes(object_type=object_type, cursor=cursor or {}, full=full))


def _errors(pages):
    return [(e.line, e.column, e.reason) for page in pages for e in page.errors]


def test_registered_under_its_name():
    assert connector_class_get("csv") is CsvConnector


def test_good_rows_are_mapped_to_canonical_records_with_properties(csv_root, write_companies):
    write_companies([["C1", "Acme", "1200", "gold"], ["C2", "Globex", "", "silver"]])
    (page,) = _pages(_connector(csv_root), "companies")
    assert page.errors == []
    assert page.records == [
        {"external_id": "C1", "_line": 2, "name": "Acme", "employee_count": 1200, "properties": {"Tier": "gold"}},
        {"external_id": "C2", "_line": 3, "name": "Globex", "employee_count": None, "properties": {"Tier": "silver"}},
    ]
    assert page.complete_id_set == {"C1", "C2"}
    assert page.cursor["complete"] and page.cursor["records"] == 2 and page.cursor["size"] > 0


def test_bad_cells_are_reported_with_line_column_reason_and_good_rows_kept(csv_root, write_contacts):
    write_contacts(
        [
            ["P1", "", "Ada", "ada@x.test", "Lead", "2024-01-02T10:00:00+02:00"],
            ["P2", "", "Bob", "bob-at-x", "lead", "2024-01-02"],
            ["P3", "", "Cy", "cy@x.test", "prospect", "02/01/2024"],
            ["P1", "", "Again", "again@x.test", "lead", ""],
            ["", "", "No id", "", "", ""],
            ["P4", "", "Dee", "", "", ""],
        ]
    )
    (page,) = _pages(_connector(csv_root), "contacts")
    assert [r["external_id"] for r in page.records] == ["P1", "P4"]
    ada = page.records[0]
    assert ada["lifecycle_stage"] == "lead"
    assert ada["remote_created_at"] == dt.datetime(2024, 1, 2, 8, 0, tzinfo=dt.UTC)
    assert _errors([page]) == [
        (3, "Email", "'bob-at-x' is not an email address"),
        (
            4,
            "Stage",
            "'prospect' is not one of: subscriber, lead, mql, sql, opportunity, customer, other "
            "(map synonyms under `values`)",
        ),
        (4, "Created", "'02/01/2024' is not a date (an ISO 8601 date)"),
        (5, "Contact ID", "duplicate external id (first on line 2)"),
        (6, "Contact ID", "external id is empty"),
    ]
    assert page.complete_id_set is None, "a row without id makes the id set untrustworthy"


def test_date_format_separators_synonyms_and_timezone(csv_root):
    write_csv(
        csv_root / "deals.csv",
        ["ID", "Deal", "Value", "Outcome", "Closes", "Created"],
        [
            ["D1", "Big", "1.234,50", "Closed Won", "31/12/2024", "31/12/2024"],
            ["D2", "Small", "10", "LOST", "2024-06-01", "2024-06-01T12:00:00"],
            ["D3", "Odd", "ten", "Closed Pending", "2024-06-01", ""],
        ],
    )
    mapping = {
        "date_format": "%d/%m/%Y",
        "timezone": "Europe/Berlin",
        "thousands_separator": ".",
        "decimal_separator": ",",
        "objects": {
            "deals": {
                "file": "deals.csv",
                "columns": {
                    "external_id": "ID",
                    "name": "Deal",
                    "amount": "Value",
                    "status": "Outcome",
                    "close_date": "Closes",
                    "remote_created_at": "Created",
                },
                "values": {"status": {"closed won": "won"}},
            }
        },
    }
    (page,) = _pages(_connector(csv_root, mapping), "deals")
    d1, d2 = page.records
    assert d1["amount"] == Decimal("1234.50") and d1["status"] == "won" and d1["close_date"] == dt.date(2024, 12, 31)
    assert d1["remote_created_at"].utcoffset() == dt.timedelta(hours=1)
    assert d2["status"] == "lost" and d2["close_date"] == dt.date(2024, 6, 1)
    assert [(line, column) for line, column, _ in _errors([page])] == [(4, "Value"), (4, "Outcome")]


def test_missing_required_column_fails_that_type_only(csv_root, write_companies):
    write_companies([["C1", "Acme", "5", "gold"]])
    write_csv(csv_root / "contacts.csv", ["Contact ID", "First Name"], [["P1", "Ada"]])
    (page,) = _pages(_connector(csv_root), "contacts")
    assert page.records == [] and page.cursor == {} and page.complete_id_set is None
    ((line, _, reason),) = _errors([page])
    assert line == 1 and "missing column(s)" in reason and "'Email'" in reason


def test_wrong_encoding_rejects_only_the_bad_lines(csv_root):
    content = "Company ID,Company Name,Employees,Tier\nC1,Acme,1,a\nC2,M\xfcller GmbH,2,b\nC3,Caf\xe9,3,c\n"
    (csv_root / "companies.csv").write_bytes(content.encode("latin-1"))
    (page,) = _pages(_connector(csv_root), "companies")
    assert [r["external_id"] for r in page.records] == ["C1"]
    assert [(line, reason.split(":")[0]) for line, _, reason in _errors([page])] == [
        (3, "line 3 is not valid utf-8"),
        (4, "line 4 is not valid utf-8"),
    ]
    assert page.complete_id_set is None

    latin = _connector(csv_root, {**basic_mapping(), "encoding": "latin-1"})
    (page,) = _pages(latin, "companies")
    assert [r["name"] for r in page.records] == ["Acme", "M\xfcller GmbH", "Caf\xe9"]


def test_bom_and_quoted_multiline_cells_keep_line_numbers(csv_root):
    content = '\ufeffCompany ID,Company Name,Employees,Tier\nC1,"Two\nLines",1,a\nC2,Bad,x,b\n'
    (csv_root / "companies.csv").write_text(content, encoding="utf-8")
    (page,) = _pages(_connector(csv_root), "companies")
    assert page.records[0]["name"] == "Two\nLines"
    assert _errors([page]) == [(4, "Employees", "'x' is not a whole number")]


def test_pages_of_page_size_with_resumable_cursors(csv_root, write_companies):
    write_companies([[f"C{i}", f"Co {i}", str(i), ""] for i in range(7)])
    pages = _pages(_connector(csv_root, page_size=3), "companies")
    assert [len(p.records) for p in pages] == [3, 3, 1]
    assert [p.cursor["line"] for p in pages] == [4, 7, 8]
    assert [p.cursor["complete"] for p in pages] == [False, False, True]
    assert [p.complete_id_set is not None for p in pages] == [False, False, True]

    resumed = _pages(_connector(csv_root, page_size=3), "companies", cursor=pages[0].cursor)
    assert [r["external_id"] for p in resumed for r in p.records] == ["C3", "C4", "C5", "C6"]
    assert resumed[-1].complete_id_set == {f"C{i}" for i in range(7)}, "the id set covers skipped lines too"


def test_unchanged_file_is_skipped_and_changed_file_is_reread(csv_root, write_companies):
    write_companies([["C1", "Acme", "1", ""], ["C2", "Globex", "2", ""]])
    connector = _connector(csv_root)
    (first,) = _pages(connector, "companies")

    (skipped,) = _pages(_connector(csv_root), "companies", cursor=first.cursor)
    assert skipped.records == [] and skipped.skipped_unchanged == 2
    (forced,) = _pages(_connector(csv_root), "companies", cursor=first.cursor, full=True)
    assert len(forced.records) == 2

    write_companies([["C1", "Acme", "1", ""]])
    (changed,) = _pages(_connector(csv_root), "companies", cursor=first.cursor)
    assert [r["external_id"] for r in changed.records] == ["C1"] and changed.complete_id_set == {"C1"}


def test_mapping_file_yaml_and_json(csv_root, write_companies):
    write_companies([["C1", "Acme", "1", ""]])
    mapping = {"objects": {"companies": basic_mapping()["objects"]["companies"]}}
    (csv_root / "map.yaml").write_text(yaml.safe_dump(mapping))
    (csv_root / "map.json").write_text(json.dumps(mapping))
    for name in ("map.yaml", "map.json"):
        connector = _bound({"path": str(csv_root), "mapping_file": name})
        assert len(_pages(connector, "companies")[0].records) == 1
        assert _pages(connector, "contacts") == []  # not mapped: nothing to do


@pytest.mark.parametrize(
    "config_change, message",
    [
        ({"path": "../.."}, "outside the folders"),
        ({"path": "/etc"}, "outside the folders"),
        (
            {"mapping": {"objects": {"companies": {"file": "../../etc/passwd", "columns": PASSWD_COLUMNS}}}},
            "outside the folders",
        ),
        ({"mapping": None, "mapping_file": "/etc/passwd"}, "outside the folders"),
    ],
)
def test_paths_outside_the_import_roots_are_refused(csv_root, write_companies, config_change, message):
    write_companies([["C1", "Acme", "1", ""]])
    config = {"path": str(csv_root), "mapping": basic_mapping(), **config_change}
    config = {key: value for key, value in config.items() if value is not None}
    with pytest.raises(ConnectorError, match=message):
        _pages(_bound(config), "companies")


def test_symlink_out_of_the_root_is_refused(csv_root, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    write_csv(outside / "secret.csv", ["Company ID", "Company Name", "Employees", "Tier"], [["C1", "X", "1", ""]])
    (csv_root / "companies.csv").symlink_to(outside / "secret.csv")
    with pytest.raises(ConnectorError, match="outside the folders"):
        _pages(_connector(csv_root), "companies")


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({"objects": {"leads": {}}}, "unknown key"),
        ({"objects": {"companies": {"file": "c.csv", "columns": {"external_id": "ID"}}}}, "must map name"),
        (
            {"objects": {"companies": {"file": "c.csv", "columns": {"external_id": "ID", "name": "N", "size": "S"}}}},
            "unknown field",
        ),
        (
            {
                "encoding": "utf-9",
                "objects": {"companies": {"file": "c", "columns": {"external_id": "a", "name": "b"}}},
            },
            "unknown encoding",
        ),
        (
            {
                "objects": {
                    "deals": {
                        "file": "d.csv",
                        "columns": {"external_id": "a", "name": "b"},
                        "values": {"status": {"Closed Won": "victory"}},
                    }
                }
            },
            "not one of",
        ),
    ],
)
def test_bad_mapping_is_a_clear_connector_error(csv_root, mapping, message):
    with pytest.raises(ConnectorError, match=message):
        _pages(_connector(csv_root, mapping), "companies")
