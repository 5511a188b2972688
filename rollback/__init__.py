"""Automated rollback: an ASGI service that turns Alertmanager webhooks into rollbacks.

Alertmanager's rollback receiver posts alert groups carrying `rollback_strategy`
(immediate|fast|gradual) and `service`. The service authenticates the call, decides once per
alert group (`plan`, `ledger`), and acts through Railway (backend, worker), Vercel (frontend)
and a GitHub environment variable (deploy freeze), within the strategy's timeout (`executor`).
Every decision goes to a JSON-lines audit log and the strategy's notification channels.
"""
