"""Outbound integrations (Slack, Apollo; GoHighLevel later): one HTTP layer with
timeouts, retries honouring Retry-After and a circuit breaker per integration, and one module
per integration that speaks its wire format. Business rules stay in `domain/`."""
