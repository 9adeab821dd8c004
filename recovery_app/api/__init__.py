"""HTTP doors: webhooks and the REST API under /api/v1, mounted into Reflex's backend."""
