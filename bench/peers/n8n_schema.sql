-- The workflow's leads table, in n8n's own database (bench/peers/n8n_workflow.json writes it).
CREATE TABLE IF NOT EXISTS intake_leads (
    id BIGSERIAL PRIMARY KEY,
    location_id TEXT,
    first_name TEXT,
    last_name TEXT,
    email TEXT,
    phone TEXT,
    source TEXT,
    message TEXT,
    payload JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
