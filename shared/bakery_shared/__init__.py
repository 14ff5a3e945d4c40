"""Shared infrastructure: settings, database, errors, auth, phone numbers and the Graph API client."""
