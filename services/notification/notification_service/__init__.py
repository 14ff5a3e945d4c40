"""Purchase-order events to WhatsApp template messages."""
