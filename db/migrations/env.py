"""Alembic environment. fleetui runs migrations in-process and hands over its connection."""

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import fleetui.db.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI by hand
    from fleetui.db.engine import make_engine, resolve_url
    from fleetui.db.migrate import migrating

    url = resolve_url(config.get_main_option("sqlalchemy.url"))
    with migrating(make_engine(url), url) as conn:
        run(conn)
else:
    run(connection)
