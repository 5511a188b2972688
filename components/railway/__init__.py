"""Railway services through pulumi-command: the converge tool (`python -m components.railway`)
and, in `component.py`, the RailwayService component. The converge reads as observe
(`observation.py`) -> plan (`plan.py`, pure) -> execute (`execute.py`, the only code that changes
Railway), put together in `converge.py`. Kept light: the CLI runs on every `pulumi up` and must
not import pulumi."""
