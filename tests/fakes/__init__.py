"""Fakes of outside services, served over real HTTP."""
