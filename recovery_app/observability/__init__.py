"""Request ids, structured logs and Prometheus metrics: what operators see of a running instance.
Plain Python (no Reflex), so the domain, the messaging layer and the jobs can all use it."""
