"""Webhook endpoints, included at `/webhooks/` by the project's urls."""

from django.urls import path

from crm_connectors.webhook_views import hubspot_app_webhook_view, webhook_receive_view

app_name = "webhooks"

urlpatterns = [
    # Salesforce Outbound Messages cannot sign requests: a per-connection secret in the URL instead.
    path(
        "salesforce/<int:connection_id>/<str:secret>/",
        webhook_receive_view,
        {"connector": "salesforce"},
        name="salesforce",
    ),
    # A HubSpot app has one target URL for every portal that installed it.
    path("hubspot/app/<int:app_id>/", hubspot_app_webhook_view, name="hubspot-app"),
    path("<slug:connector>/<int:connection_id>/", webhook_receive_view, name="receive"),
]
