"""Business rules of the notification service (no HTTP, no SQL)."""
