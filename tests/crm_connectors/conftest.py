import csv
from pathlib import Path

import httpx
import pytest

from crm_connectors.services import connection_create
from tests.crm_connectors import registered_fakes  # noqa: F401 (registers the test connectors)
from tests.factories import OrganizationFactory

COMPANY_COLUMNS = {"external_id": "Company ID", "name": "Company Name", "employee_count": "Employees"}
CONTACT_COLUMNS = {
    "external_id": "Contact ID",
    "company_external_id": "Company ID",
    "first_name": "First Name",
    "email": "Email",
    "lifecycle_stage": "Stage",
    "remote_created_at": "Created",
}


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def basic_mapping(**objects) -> dict:
    mapping = {
        "objects": {
            "companies": {"file": "companies.csv", "columns": COMPANY_COLUMNS, "properties": "*"},
            "contacts": {"file": "contacts.csv", "columns": CONTACT_COLUMNS},
        }
    }
    mapping["objects"].update(objects)
    return mapping


# CSV connections read only their organisation's folder <import root>/<org slug>/: the fixtures' exports
# live in this organisation's.
CSV_ORG_SLUG = "csv-org"


@pytest.fixture
def csv_root(tmp_path, settings):
    settings.CSV_IMPORT_ROOTS = [str(tmp_path)]
    folder = tmp_path / CSV_ORG_SLUG / "export"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def write_companies(csv_root):
    def write(rows: list[list[str]], extra_header: tuple[str, ...] = ("Tier",)) -> Path:
        return write_csv(csv_root / "companies.csv", ["Company ID", "Company Name", "Employees", *extra_header], rows)

    return write


@pytest.fixture
def write_contacts(csv_root):
    def write(rows: list[list[str]]) -> Path:
        return write_csv(
            csv_root / "contacts.csv", ["Contact ID", "Company ID", "First Name", "Email", "Stage", "Created"], rows
        )

    return write


@pytest.fixture
def csv_connection(db, csv_root):
    def create(mapping: dict | None = None, **config):
        return connection_create(
            organization=OrganizationFactory(slug=CSV_ORG_SLUG),
            kind="csv",
            name="export",
            config={"path": str(csv_root), "mapping": mapping or basic_mapping(), **config},
        )

    return create


@pytest.fixture
def wire(monkeypatch):
    """Every HTTP request any connector sends (API calls and OAuth token calls alike), as httpx sent it."""
    sent: list[httpx.Request] = []
    original = httpx.Client.send

    def send(self, request, **kwargs):
        sent.append(request)
        return original(self, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", send)
    return sent
