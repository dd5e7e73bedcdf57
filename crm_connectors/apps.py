from django.apps import AppConfig


class CrmConnectorsConfig(AppConfig):
    name = "crm_connectors"
    verbose_name = "CRM connectors"

    def ready(self) -> None:
        # Importing the connector packages runs their @register decorators.
        from crm_connectors import registry
        from crm_connectors.rescoring import rescore_changed_contacts, write_back_new_scores
        from crm_connectors.signals import records_changed
        from ml.signals import predictions_updated

        registry.load_builtin_connectors()
        records_changed.connect(rescore_changed_contacts, dispatch_uid="crm_connectors.rescore_changed_contacts")
        predictions_updated.connect(write_back_new_scores, dispatch_uid="crm_connectors.write_back_new_scores")
