from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "salesai.core"
    label = "core"
    verbose_name = "CRM data"
