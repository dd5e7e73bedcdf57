from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "salesai.api"
    label = "api"
