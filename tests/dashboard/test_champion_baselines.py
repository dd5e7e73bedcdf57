"""/app/'s champion card: every family trained on the same split, which one serves and the gate's reasons; a
candidate the gate kept is shown as such, never as "no model yet"."""

from ml.models import ModelVersion

GATE = {
    "promote": True,
    "family": "lightgbm",
    "reasons": [
        "lightgbm serves: transformer is significantly worse",
        "transformer 0.8400 vs lightgbm 0.8700: difference -0.0300, 95% CI [-0.0500, -0.0100] on 900 rows",
    ],
}


def test_champion_card_compares_every_family_and_says_which_serves(client_a, tenant_a):
    metrics = {
        "roc_auc": 0.870,
        "brier": 0.099,
        "family": "lightgbm",
        "gate": GATE,
        "transformer": {"roc_auc": 0.840, "brier": 0.104},
        "baselines": {"lightgbm": {"roc_auc": 0.870, "brier": 0.099}, "logistic": {"error": "one class"}},
    }
    ModelVersion.objects.filter(id=tenant_a.model_version.id).update(
        status=ModelVersion.Status.CHAMPION, architecture="lightgbm", metrics=metrics
    )

    html = client_a.get("/app/").content.decode()

    assert "Serving: <strong>lightgbm</strong>" in html
    assert '<tr><td>Transformer</td><td class="num">0.840</td><td class="num">0.104</td><td></td></tr>' in html
    assert '<tr><td>LightGBM (tuned)</td><td class="num">0.870</td><td class="num">0.099</td><td>yes</td></tr>' in html
    assert '<tr><td>Logistic regression</td><td class="num">—</td><td class="num">—</td><td></td></tr>' in html
    assert "95% CI [-0.0500, -0.0100]" in html


def test_versions_trained_without_baselines_show_no_comparison(client_a, tenant_a):
    ModelVersion.objects.filter(id=tenant_a.model_version.id).update(status=ModelVersion.Status.CHAMPION)

    html = client_a.get("/app/").content.decode()

    assert "Champion model" in html and "LightGBM (tuned)" not in html


def test_a_kept_candidate_is_shown_with_the_gates_reasons(client_a, tenant_a):
    kept = {**GATE, "promote": False, "reasons": ["worse than the champion: candidate 0.80 vs champion 0.85"]}
    ModelVersion.objects.filter(id=tenant_a.model_version.id).update(
        status=ModelVersion.Status.CANDIDATE, metrics={"roc_auc": 0.80, "gate": kept}
    )

    html = client_a.get("/app/").content.decode()

    assert "No model yet" not in html
    assert "Trained, but not serving: worse than the champion: candidate 0.80 vs champion 0.85" in html
