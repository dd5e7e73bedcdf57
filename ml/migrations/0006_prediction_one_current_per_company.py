"""One current churn (account-level) prediction per company and task.

`prediction_one_current_per_contact` cannot cover account rows: their contact is NULL, and NULLs never
collide in a unique index. This partial unique index does, and it also serves the company API's "current
churn risk" lookups. It is plain SQL (the same on SQLite and PostgreSQL) so the model state is unchanged;
older duplicates, if any, are retired first (the newest row stays current).
"""

from django.db import migrations

INDEX = "prediction_one_current_per_company"


def retire_duplicates(apps, schema_editor):
    Prediction = apps.get_model("ml", "Prediction")
    current = Prediction.objects.filter(contact__isnull=True, company__isnull=False, is_current=True)
    seen: set[tuple[int, str]] = set()
    stale: list[int] = []
    for prediction_id, company_id, task in (
        current.order_by("-created_at", "-id").values_list("id", "company_id", "task").iterator(chunk_size=5000)
    ):
        if (company_id, task) in seen:
            stale.append(prediction_id)
        seen.add((company_id, task))
    for start in range(0, len(stale), 900):
        Prediction.objects.filter(id__in=stale[start : start + 900]).update(is_current=False)


class Migration(migrations.Migration):
    dependencies = [
        ("ml", "0005_scoring_runs_drift"),
    ]

    operations = [
        migrations.RunPython(retire_duplicates, migrations.RunPython.noop),
        migrations.RunSQL(
            sql=f"CREATE UNIQUE INDEX {INDEX} ON ml_prediction (company_id, task) "
            "WHERE is_current AND contact_id IS NULL AND company_id IS NOT NULL",
            reverse_sql=f"DROP INDEX {INDEX}",
        ),
    ]
