"""Reusable test fakes (scripted local servers) shared by pack and cross-pack tests."""
