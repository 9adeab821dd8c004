"""Business rules, free of Reflex: every door (pages, API routes, jobs, CLI) calls these."""
