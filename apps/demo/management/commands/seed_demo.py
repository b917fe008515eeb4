from django.core.management.base import BaseCommand

from apps.demo.services import DEMO_USERS, seed_demo


class Command(BaseCommand):
    help = "Create the demo users, groups and SQLite shop data source if they are missing."

    def handle(self, *args, **options):
        datasource = seed_demo()
        self.stdout.write(f"Demo data source: {datasource.name} ({datasource.database})")
        for demo in DEMO_USERS:
            self.stdout.write(f"  login {demo.username} / {demo.password}  (groups: {', '.join(demo.groups)})")
