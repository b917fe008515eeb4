from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("queries", "0007_merge_parallel_work")]

    operations = [
        migrations.AddField(
            model_name="storedresult",
            name="statements",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
