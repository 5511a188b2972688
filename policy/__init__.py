"""Guardrails: rule functions shared by the CrossGuard pack and the offline check."""
