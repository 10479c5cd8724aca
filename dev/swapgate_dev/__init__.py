"""Development tools for Swapgate: provider fakes and the Docker-free local stack.

Nothing here ships in the Lambda layer.
"""
