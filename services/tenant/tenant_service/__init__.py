"""Tenants, settings, phone assignment and web pages."""
