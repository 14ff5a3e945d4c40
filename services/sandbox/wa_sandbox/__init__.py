"""Local fake of the WhatsApp Cloud API (Graph API)."""
