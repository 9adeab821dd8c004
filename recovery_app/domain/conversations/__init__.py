"""Conversations with leads: inbound texts, who they are for, and what they change."""
