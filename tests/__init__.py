"""Tests of AITravelMate."""
