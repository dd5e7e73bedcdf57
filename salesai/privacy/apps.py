from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Data-subject requests (GDPR art. 15 and 17) across every app: the one package that may import
    `salesai.core`, `crm_connectors` and `ml` together, so neither of those has to import the others."""

    name = "salesai.privacy"
    label = "privacy"
    verbose_name = "Privacy"
