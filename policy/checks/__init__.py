"""The rules' checks, one module per area; `policy.rules` lists them with their levels."""
