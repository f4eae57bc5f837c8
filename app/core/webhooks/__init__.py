"""Signed webhooks (Standard Webhooks): the event list, the endpoint and outbox tables, the
outbox writer actions call in their own transaction, and the delivery step the background
worker runs. Plumbing every layer may use; the admin screens live in app.admin."""
