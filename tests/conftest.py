import os

# Powertools child loggers bind to the service name when a layer module is first imported: fix it
# before any test imports one, as the template's environment does in Lambda.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "swapgate")

pytest_plugins = ["support.fixtures"]  # tests/support, on the path by pyproject's pythonpath
