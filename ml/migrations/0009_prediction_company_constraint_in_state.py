"""Migration 0006's partial unique index (one current account prediction per company and task), now in the
model state as a UniqueConstraint.

As raw SQL it was invisible to Django, so SQLite's table rebuild for 0007's new Prediction columns dropped it
(PostgreSQL alters in place and kept it). The database side re-creates it only where it is missing; the state
side records it, so every later rebuild keeps it.
"""

from django.db import migrations, models

INDEX = "prediction_one_current_per_company"


class Migration(migrations.Migration):
    dependencies = [
        ("ml", "0008_email_claim_policy"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=f"CREATE UNIQUE INDEX IF NOT EXISTS {INDEX} ON ml_prediction (company_id, task) "
                    "WHERE is_current AND contact_id IS NULL AND company_id IS NOT NULL",
                    reverse_sql=migrations.RunSQL.noop,
                ),
            ],
            state_operations=[
                migrations.AddConstraint(
                    model_name="prediction",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(is_current=True, contact__isnull=True, company__isnull=False),
                        fields=("company", "task"),
                        name=INDEX,
                    ),
                ),
            ],
        ),
    ]
