"""Outbound and inbound messages: outbox, dispatcher, channels, drafting."""
