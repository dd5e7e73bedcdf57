"""A CSV connection reads only its own organisation's folder: refused when saved and again when it syncs."""

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from crm_connectors.base import ConnectorError
from crm_connectors.csv.connector import CsvConnector
from crm_connectors.models import CRMConnection, SyncRun
from crm_connectors.services import connection_create
from crm_connectors.sync import connection_sync
from salesai.core.models import Contact
from tests.crm_connectors.conftest import basic_mapping, write_csv
from tests.factories import OrganizationFactory

CONTACT_HEADER = ["Contact ID", "Company ID", "First Name", "Email", "Stage", "Created"]


@pytest.fixture
def import_root(tmp_path, settings):
    settings.CSV_IMPORT_ROOTS = [str(tmp_path / "imports")]
    return tmp_path / "imports"


@pytest.fixture
def victim_export(import_root) -> Path:
    """Organisation `victim`'s export: one person, in its own folder."""
    folder = import_root / "victim" / "export"
    folder.mkdir(parents=True)
    write_csv(folder / "contacts.csv", CONTACT_HEADER, [["P1", "", "Ada", "ada@victim.test", "", ""]])
    return folder


CONTACTS_ONLY = {"objects": {"contacts": basic_mapping()["objects"]["contacts"]}}


def _bound(config, organization_slug) -> CsvConnector:
    connector = CsvConnector(config={"mapping": CONTACTS_ONLY, **config}, credentials={})
    connector.organization_slug = organization_slug
    return connector


@pytest.mark.parametrize(
    "path",
    [
        "../victim/export",  # traversal out of the attacker's folder
        "__VICTIM__",  # the victim's folder, absolute
        "/etc",
        "..",  # the import root itself: every organisation's folder below it
    ],
)
def test_saving_a_connection_outside_its_organisations_folder_is_refused(db, victim_export, path):
    attacker = OrganizationFactory(slug="attacker")
    path = str(victim_export) if path == "__VICTIM__" else path

    with pytest.raises(ConnectorError, match="outside the folders CSV imports may read"):
        connection_create(
            organization=attacker, kind="csv", name="steal", config={"path": path, "mapping": basic_mapping()}
        )
    assert not CRMConnection.objects.exists()


@pytest.mark.parametrize(
    "config",
    [
        {"path": "export", "mapping_file": "../../victim/export/mapping.yaml"},
        {
            "path": "export",
            "mapping": {
                "objects": {
                    "contacts": {
                        "file": "../../victim/export/contacts.csv",
                        "columns": {"external_id": "Contact ID", "email": "Email"},
                    }
                }
            },
        },
    ],
)
def test_saving_a_mapping_that_names_files_outside_is_refused(db, victim_export, config):
    with pytest.raises(ConnectorError, match="outside the folders"):
        connection_create(organization=OrganizationFactory(slug="attacker"), kind="csv", name="steal", config=config)


def test_a_path_inside_the_own_folder_is_accepted_before_the_folder_exists(db, import_root):
    connection = connection_create(
        organization=OrganizationFactory(slug="acme"),
        kind="csv",
        name="later",
        config={"path": "weekly", "mapping": basic_mapping()},
    )

    assert connection.config["path"] == "weekly"


def test_sync_refuses_another_organisations_folder_even_when_the_saved_config_points_there(db, victim_export):
    """The reported attack: org B's connection with org A's folder. A config written before this check
    existed (or straight into the database) is refused when it syncs, and nothing is imported."""
    attacker = OrganizationFactory(slug="attacker")
    connection = CRMConnection.objects.create(
        organization=attacker,
        kind="csv",
        name="steal",
        config={"path": str(victim_export), "mapping": basic_mapping()},
    )

    run = connection_sync(connection_id=connection.pk)

    assert run.status == SyncRun.Status.FAILED and "outside the folders" in run.error_summary
    assert not Contact.objects.filter(organization=attacker).exists()


def test_a_symlink_into_another_organisations_folder_is_refused_at_sync(db, victim_export, import_root):
    attacker = OrganizationFactory(slug="attacker")
    own = import_root / "attacker" / "export"
    own.mkdir(parents=True)
    connection = connection_create(
        organization=attacker, kind="csv", name="files", config={"path": "export", "mapping": basic_mapping()}
    )
    (own / "contacts.csv").symlink_to(victim_export / "contacts.csv")  # placed after the save-time check

    run = connection_sync(connection_id=connection.pk)

    assert run.status == SyncRun.Status.FAILED and "outside the folders" in run.error_summary
    assert not Contact.objects.filter(organization=attacker).exists()


def test_the_owner_imports_its_own_folder_with_a_relative_path(db, victim_export):
    victim = OrganizationFactory(slug="victim")
    connection = connection_create(
        organization=victim, kind="csv", name="files", config={"path": "export", "mapping": CONTACTS_ONLY}
    )

    run = connection_sync(connection_id=connection.pk)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_summary
    assert list(Contact.objects.filter(organization=victim).values_list("email", flat=True)) == ["ada@victim.test"]


def test_a_connector_not_bound_to_an_organisation_reads_nothing(victim_export):
    with pytest.raises(ConnectorError, match="organisation"):
        list(
            _bound({"path": str(victim_export)}, organization_slug="").iter_changes(
                object_type="contacts", cursor={}, full=False
            )
        )


def test_an_organisation_named_like_the_app_data_cannot_read_it(tmp_path, settings):
    """Even with an import root configured too wide (the old default, the var folder), an organisation
    called `models` must not read the model store."""
    settings.CSV_IMPORT_ROOTS = [str(tmp_path)]
    settings.MODEL_STORE_DIR = tmp_path / "models"
    (tmp_path / "models").mkdir()

    with pytest.raises(ConnectorError, match="application's own data"):
        CsvConnector.config_check(config={"path": ".", "mapping": basic_mapping()}, organization_slug="models")


def test_the_default_import_root_holds_neither_the_model_store_nor_the_database():
    roots = [Path(root).resolve() for root in django_settings.CSV_IMPORT_ROOTS]
    protected = [
        Path(django_settings.MODEL_STORE_DIR).resolve(),
        Path(django_settings.VAR_DIR).resolve() / "salesai.sqlite3",
    ]

    assert roots and not any(path.is_relative_to(root) for root in roots for path in protected)
