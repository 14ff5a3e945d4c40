"""bakery-admin: the platform admin command line."""
