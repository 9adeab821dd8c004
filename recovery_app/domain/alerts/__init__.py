"""Alerts to the office's Slack: which events alert (service), the office's Slack settings
(config), and the queue that posts them (delivery)."""
