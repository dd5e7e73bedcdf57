import pytest

from crm_connectors.salesforce.connector import SalesforceConnector
from crm_connectors.services import connection_create
from tests.crm_connectors.salesforce.fake_server import FakeSalesforce
from tests.factories import OrganizationFactory

CUSTOM_FIELDS = {
    "Account": {"Tier__c": "picklist", "Score__c": "double", "Logo__c": "base64"},
    "Contact": {"Birthday__c": "date"},
    "Lead": {"Interests__c": "multipicklist"},
    "Opportunity": {"Renewal__c": "boolean", "Seats__c": "int"},
}


@pytest.fixture(autouse=True)
def no_retry_waits(monkeypatch):
    monkeypatch.setattr(SalesforceConnector, "sleep", staticmethod(lambda seconds: None))


@pytest.fixture
def fake_sf():
    with FakeSalesforce(page_size=2, custom_fields=CUSTOM_FIELDS) as fake:
        yield fake


@pytest.fixture
def sf_connection(db, fake_sf):
    def create(credentials: dict | None = None, **config):
        return connection_create(
            organization=OrganizationFactory(),
            kind="salesforce",
            name="salesforce",
            config={"base_url": fake_sf.url, **config},
            credentials=credentials
            or {
                "client_id": fake_sf.client_id,
                "client_secret": fake_sf.client_secret,
                "refresh_token": fake_sf.refresh_token,
            },
        )

    return create


class Seeded:
    """Ids of the records `seed` wrote."""

    def __init__(self, **ids: str) -> None:
        self.__dict__.update(ids)


def seed(fake: FakeSalesforce) -> Seeded:
    """3 accounts, 3 contacts + 2 leads, 3 opportunities, 3 tasks + 1 event: 15 records."""
    owner = fake.add_user("rep@example.test")
    a1 = fake.add(
        "Account",
        Name="Acme",
        Website="https://www.Acme.com/about",
        Industry="Software",
        NumberOfEmployees=50,
        AnnualRevenue=1200000.5,
        BillingCountry="DE",
        BillingCity="Berlin",
        Tier__c="gold",
        Score__c=7.5,
        Logo__c="aGVsbG8=",
    )
    a2 = fake.add("Account", Name="Globex", Tier__c=None, Score__c=3)
    a3 = fake.add("Account", Name="Initech")
    c1 = fake.add(
        "Contact",
        AccountId=a1,
        FirstName="Ada",
        LastName="Lovelace",
        Email="ada@acme.test",
        Title="CTO",
        LeadSource="Web",
        HasOptedOutOfEmail=False,
        OwnerId=owner,
        Birthday__c="1990-12-10",
    )
    c2 = fake.add("Contact", AccountId=a2, FirstName="Bob", LastName="Builder", HasOptedOutOfEmail=True)
    c3 = fake.add("Contact", AccountId=a3, FirstName="Cy", LastName="Converted", Email="cy@initech.test")
    o1 = fake.add(
        "Opportunity",
        Name="Acme expansion",
        AccountId=a1,
        ContactId=c1,
        Amount=50000,
        StageName="Proposal",
        IsClosed=False,
        IsWon=False,
        CloseDate="2026-03-31",
        Renewal__c=True,
        Seats__c=25,
    )
    o2 = fake.add(
        "Opportunity",
        Name="Initech deal",
        AccountId=a3,
        StageName="Closed Won",
        IsClosed=True,
        IsWon=True,
        CloseDate="2026-01-15",
    )
    o3 = fake.add("Opportunity", Name="Globex pilot", AccountId=a2, StageName="Closed Lost", IsClosed=True, IsWon=False)
    l1 = fake.add(
        "Lead",
        FirstName="Lee",
        LastName="Open",
        Email="lee@prospect.test",
        Company="Prospect Ltd",
        LeadSource="Webinar",
        Status="Working",
        IsConverted=False,
        OwnerId=owner,
        Interests__c="AI;CRM",
    )
    l2 = fake.add(
        "Lead",
        FirstName="Cy",
        LastName="Converted",
        Company="Initech",
        Status="Closed - Converted",
        IsConverted=True,
        ConvertedDate="2026-01-10",
        ConvertedContactId=c3,
        ConvertedAccountId=a3,
        ConvertedOpportunityId=o2,
    )
    t1 = fake.add(
        "Task",
        Subject="Intro call",
        TaskSubtype="Call",
        CallType="Outbound",
        WhoId=c1,
        WhatId=o1,
        AccountId=a1,
        CompletedDateTime="2026-01-02T10:00:00.000+0000",
        ActivityDate="2026-01-02",
    )
    t2 = fake.add(
        "Task",
        Subject="Follow-up email",
        Description="Hi Lee",
        TaskSubtype="Email",
        WhoId=l1,
        ActivityDate="2026-01-03",
    )
    t3 = fake.add("Task", Subject="Prepare QBR", TaskSubtype="Task", WhatId=a2, AccountId=a2)
    e1 = fake.add(
        "Event",
        Subject="Demo",
        WhoId=c2,
        WhatId=a2,
        AccountId=a2,
        StartDateTime="2026-01-05T14:00:00.000+0000",
        ActivityDate="2026-01-05",
    )
    return Seeded(
        owner=owner,
        a1=a1,
        a2=a2,
        a3=a3,
        c1=c1,
        c2=c2,
        c3=c3,
        o1=o1,
        o2=o2,
        o3=o3,
        l1=l1,
        l2=l2,
        t1=t1,
        t2=t2,
        t3=t3,
        e1=e1,
    )
