"""Alembic migrations of the MedSafe schema (shipped with the package)."""
