"""Development tools for Swapgate: provider fakes, the Docker-free local stack and the CLI.

Nothing here ships in the Lambda layer.
"""
