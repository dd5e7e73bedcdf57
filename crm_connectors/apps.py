from django.apps import AppConfig


class CrmConnectorsConfig(AppConfig):
    name = "crm_connectors"
    verbose_name = "CRM connectors"

    def ready(self) -> None:
        # Importing the connector packages runs their @register decorators.
        from crm_connectors import registry
        from crm_connectors.rescoring import rescore_changed_contacts
        from crm_connectors.signals import records_changed

        registry.load_builtin_connectors()
        records_changed.connect(rescore_changed_contacts, dispatch_uid="crm_connectors.rescore_changed_contacts")
