"""``swapgate``: the command-line client of the Swapgate API (the local stack or a deployed one).

    swapgate swap SOURCE FACE [--provider P] [--webhook URL] [--wait] [-o OUT] [--json]
    swapgate multi SOURCE --face FACE --index N [--face FACE --index N ...] [--wait] [-o OUT] [--json]
    swapgate faces IMAGE [--json]
    swapgate status ID [--json]
    swapgate cancel ID [--json]
    swapgate delete ID [--json]

Images are file paths, http(s) URLs or ``upload://`` references. Small files go in a multipart body;
larger ones through a presigned POST from ``POST /v1/uploads``. Exit codes: 0 done, 1 the API or the
job failed, 2 a usage error (bad arguments, a missing file), 130 interrupted.

Shipped to users as a console script, so it needs only requests and the layer's light modules
(``swapgate.images``, ``swapgate.retry``): never boto3, the fakes or the local stack. Modules:
``main`` arguments and dispatch, ``commands`` what each command does and prints, ``client`` the
HTTP calls, ``images`` image arguments, ``progress`` following a job, ``errors`` what ends a command.
"""
