from django.apps import AppConfig


class CrmConnectorsConfig(AppConfig):
    name = "crm_connectors"
    verbose_name = "CRM connectors"

    def ready(self) -> None:
        # Importing the connector packages runs their @register decorators.
        from crm_connectors import registry

        registry.load_builtin_connectors()
