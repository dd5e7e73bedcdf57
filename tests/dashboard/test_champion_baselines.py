"""/app/'s champion card shows the champion beside the baselines trained on the same split."""

from ml.models import ModelVersion


def test_champion_card_compares_with_the_baselines(client_a, tenant_a):
    metrics = {"roc_auc": 0.861, "brier": 0.101, "baselines": {
        "lightgbm": {"roc_auc": 0.852, "brier": 0.104}, "logistic": {"error": "could not be trained"},
    }}
    ModelVersion.objects.filter(id=tenant_a.model_version.id).update(
        status=ModelVersion.Status.CHAMPION, architecture="ft_transformer", metrics=metrics
    )

    html = client_a.get("/app/").content.decode()

    assert '<tr><td>This model (ft_transformer)</td><td class="num">0.861</td><td class="num">0.101</td></tr>' in html
    assert '<tr><td>LightGBM (tuned)</td><td class="num">0.852</td><td class="num">0.104</td></tr>' in html
    assert '<tr><td>Logistic regression</td><td class="num">—</td><td class="num">—</td></tr>' in html


def test_versions_trained_without_baselines_show_no_comparison(client_a, tenant_a):
    ModelVersion.objects.filter(id=tenant_a.model_version.id).update(status=ModelVersion.Status.CHAMPION)

    html = client_a.get("/app/").content.decode()

    assert "Champion model" in html and "LightGBM (tuned)" not in html
