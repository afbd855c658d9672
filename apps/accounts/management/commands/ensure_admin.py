from django.core.management.base import BaseCommand

from apps.accounts.services import admin_ensure


class Command(BaseCommand):
    help = "Create the first admin user when no superuser exists, and say how to log in."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--username", default="admin")

    def handle(self, *args: object, **options: object) -> None:
        user, password = admin_ensure(username=str(options["username"]))
        if user is None:
            self.stdout.write(
                "An admin user exists already. Forgot the password? "
                "Run: .venv/bin/python manage.py changepassword <username>"
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the first admin user.\n  username: {user.get_username()}\n"
                f"  password: {password}\n(shown once; change it with "
                f".venv/bin/python manage.py changepassword {user.get_username()})"
            )
        )
