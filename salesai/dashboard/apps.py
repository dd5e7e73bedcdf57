from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "salesai.dashboard"
    label = "dashboard"
