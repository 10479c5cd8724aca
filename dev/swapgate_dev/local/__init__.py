"""The Docker-free local stack (``make dev`` / ``python -m swapgate_dev.local``).

Modules, smallest first:

* ``cfn``: CloudFormation YAML (short tags) and the intrinsic-function resolver
* ``sam``: the SAM template's functions (Globals applied), Api routes, SQS event sources
* ``provision``: the template's resources created in local AWS, names planned first
* ``runtime``: Lambda handlers in-process (context object, per-function environment, warm pool)
* ``functions``: the template's functions as ``LambdaFunction`` objects
* ``aws``: moto in server mode, with Lambda ``Invoke`` routed to the handlers
* ``sqs``: SQS event source mappings (partial batch failures)
* ``apigw``: the API Gateway REST (proxy) emulator, reusable on its own in tests
* ``settings`` / ``stack`` / ``__main__``: configuration, orchestration, the command
"""

from swapgate_dev.local.apigw import ApiGatewayEmulator
from swapgate_dev.local.runtime import LambdaContext, LambdaFunction
from swapgate_dev.local.settings import LocalSettings
from swapgate_dev.local.stack import LocalStack

__all__ = ["ApiGatewayEmulator", "LambdaContext", "LambdaFunction", "LocalSettings", "LocalStack"]
