from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "salesai.demo"
    label = "demo"
    verbose_name = "Demo data"
