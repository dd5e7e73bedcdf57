"""/api/v1/ routes."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from salesai.api.views.auth import TokenObtainView
from salesai.api.views.connectors import ConnectionViewSet, SyncRunViewSet
from salesai.api.views.core import ActivityViewSet, CompanyViewSet, ContactViewSet
from salesai.api.views.deals import DealViewSet
from salesai.api.views.emails import GeneratedEmailViewSet
from salesai.api.views.forecasts import ForecastViewSet
from salesai.api.views.ml import FeedbackViewSet, ModelVersionViewSet, PredictionViewSet
from salesai.api.views.privacy import PersonDataViewSet
from salesai.api.views.scoring_runs import ScoringRunViewSet

router = DefaultRouter()
router.register("contacts", ContactViewSet, basename="contact")
router.register("companies", CompanyViewSet, basename="company")
router.register("deals", DealViewSet, basename="deal")
router.register("forecasts", ForecastViewSet, basename="forecast")
router.register("activities", ActivityViewSet, basename="activity")
router.register("predictions", PredictionViewSet, basename="prediction")
router.register("feedback", FeedbackViewSet, basename="feedback")
router.register("connections", ConnectionViewSet, basename="connection")
router.register("sync-runs", SyncRunViewSet, basename="sync-run")
router.register("model-versions", ModelVersionViewSet, basename="model-version")
router.register("scoring-runs", ScoringRunViewSet, basename="scoring-run")
router.register("emails", GeneratedEmailViewSet, basename="email")
router.register("privacy", PersonDataViewSet, basename="privacy")

app_name = "api"
urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="auth-token"),
    path("", include(router.urls)),
]
