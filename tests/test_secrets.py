"""No secret a database URL can carry is ever printed, whether the command works or fails."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fleetui.cli import app
from fleetui.db.engine import redact

SECRET = "s3cret-pw"
# Every way a URL can carry a secret: (userinfo, query) to put into the server's base URL.
FORMS = {
    "userinfo": (f":{SECRET}", ""),
    "encoded userinfo": (f":{SECRET}%40x%2F", ""),
    "unencoded @": (f":x@{SECRET}", ""),  # SQLAlchemy would read the host as s3cret-pw@...
    "query password": ("", f"?password={SECRET}"),
    "query passfile": ("", f"?passfile=/tmp/{SECRET}/pgpass"),
    "query sslpassword": ("", f"?sslmode=prefer&sslpassword={SECRET}"),
    "conninfo in dbname": ("", f"?dbname=host%3Dx%20password%3D{SECRET}"),
}
COMMANDS = {
    "db info": ["db", "info"],
    "db upgrade": ["db", "upgrade"],
    "demo": ["demo", "--cards", "8", "--no-launch"],
    "backup": ["backup", "{tmp}/fleet.dump"],
}


def _url(base: str, name: str, form: str) -> str:
    userinfo, query = FORMS[form]
    user, host = base.split("://", 1)[1].split("@", 1)
    scheme = base.split("://", 1)[0]
    return f"{scheme}://{user}{userinfo}@{host}/{name}{query}"


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("form", FORMS)
def test_no_command_prints_a_secret_from_any_form_of_url(
    form, command, pg_databases, request, tmp_path
):
    made = pg_databases.create()
    request.addfinalizer(lambda: pg_databases.drop(made))
    base, name = made.rsplit("/", 1)
    args = [a.format(tmp=tmp_path) for a in COMMANDS[command]]
    for server in (base, base.rsplit(":", 1)[0] + ":1"):  # reachable (trust auth), unreachable
        result = CliRunner().invoke(app, ["--db", _url(server, name, form), *args])
        printed = result.stdout + result.stderr
        assert SECRET not in printed, printed
        assert result.exit_code in (0, 1), printed
        assert "Traceback" not in printed
    assert "***" in printed or form == "unencoded @"


def test_the_working_forms_still_connect(pg_databases, request):
    made = pg_databases.create()
    request.addfinalizer(lambda: pg_databases.drop(made))
    base, name = made.rsplit("/", 1)
    result = CliRunner().invoke(app, ["--db", _url(base, name, "query password"), "db", "info"])
    assert result.exit_code == 0, result.output
    assert f"/{name}?password=***" in result.stdout


def test_an_unencoded_at_in_the_password_is_refused_in_one_sentence():
    url = f"postgresql+psycopg://ops:x@{SECRET}:5432@127.0.0.1:1/fleet"
    result = CliRunner().invoke(app, ["--db", url, "db", "info"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "fleetui: The password in postgresql+psycopg://ops:***@127.0.0.1:1/fleet holds an '@'; "
        "write it as %40."
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
        (
            "postgresql://u:p/s?s@h:5/db?sslmode=require",
            "postgresql://u:***@h:5/db?sslmode=require",
        ),
        (
            "postgresql://u@h/db?password=p&passfile=f",
            "postgresql://u@h/db?password=***&passfile=***",
        ),
        ("failed: host=h password='p w' port=5", "failed: host=h password=*** port=5"),
        ("open postgresql://u:p@h/db: refused", "open postgresql://u:***@h/db: refused"),
        ("/home/ops/fleet.db", "/home/ops/fleet.db"),
    ],
)
def test_redact_masks_every_form_in_urls_and_messages(text, shown):
    assert redact(text) == shown
