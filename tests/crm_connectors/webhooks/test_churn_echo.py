"""The CRM's notice of our own churn-risk write on a company is an echo: never re-read, never rescored."""

from crm_connectors.hubspot import webhook as hubspot
from crm_connectors.pipedrive import webhook as pipedrive
from crm_connectors.salesforce import webhook as salesforce


def test_hubspot_company_churn_property_change_is_an_echo():
    def plan(name: str, config: dict):
        payload = {"subscriptionType": "company.propertyChange", "objectId": 9, "propertyName": name}
        return hubspot.event_plan(payload=payload, config=config)

    assert plan("salesai_churn_risk", {}).score_only
    assert plan("my_churn", {"churn_property": "my_churn"}).score_only
    assert not plan("salesai_churn_risk", {"churn_property": "my_churn"}).score_only
    changed = plan("name", {})
    assert not changed.score_only and changed.refetch_ids == ["9"]


def test_salesforce_account_message_with_only_the_churn_field_is_an_echo():
    def plan(fields: dict, config: dict):
        payload = {"sobject": "Account", "fields": {"Id": "001000000000001AAA", "SystemModstamp": "x", **fields}}
        return salesforce.event_plan(payload=payload, config=config)

    assert plan({"SalesAI_Churn_Risk__c": "40"}, {}).score_only
    assert plan({"Risk__c": "40"}, {"churn_property": "Risk__c"}).score_only
    both = plan({"SalesAI_Churn_Risk__c": "40", "Name": "Acme"}, {})
    assert not both.score_only and both.refetch_ids == ["001000000000001AAA"]
    assert not plan({}, {}).score_only  # nothing but system fields: re-read as before


def test_pipedrive_organization_change_of_only_the_churn_field_is_an_echo():
    def v2(previous: dict, config: dict):
        payload = {
            "meta": {"action": "change", "entity": "organization", "entity_id": 5},
            "data": {"id": 5},
            "previous": previous,
        }
        return pipedrive.event_plan(payload=payload, config=config)

    config = {"churn_property": "ck", "score_property": "sk"}
    assert v2({"custom_fields": {"ck": 10}}, config).score_only
    assert not v2({"custom_fields": {"ck": 10}, "name": "Old"}, config).score_only
    assert not v2({"custom_fields": {"ck": 10}}, {"score_property": "sk"}).score_only  # key unknown: not ours
    assert not v2({"custom_fields": {}}, config).score_only

    def v1(current: dict, previous: dict):
        payload = {
            "meta": {"action": "updated", "object": "organization", "id": 5, "v": 1},
            "current": {"id": 5, **current},
            "previous": {"id": 5, **previous},
        }
        return pipedrive.event_plan(payload=payload, config=config)

    assert v1({"ck": 20}, {"ck": 10}).score_only
    assert not v1({"ck": 20, "name": "New"}, {"ck": 10, "name": "Old"}).score_only
