"""Alembic migrations of the AITravelMate schema."""
