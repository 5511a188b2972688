"""Railway services through pulumi-command: the converge tool (`python -m components.railway`)
and, in `component.py`, the RailwayService component. Kept light: the CLI runs on every `pulumi up`
and must not import pulumi."""
