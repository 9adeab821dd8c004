"""Lead enrichment: a person's professional profile (Apollo.io people match) on their lead,
cached, budgeted per office, and never in the way of intake."""
