"""Storage layer: SQLModel tables, the engine factory and Alembic migrations.

Nothing here imports the application (`fleetui`) or the UI (`screens`).
"""
