"""The S3 inbox: a JSON manifest dropped under ``inbox/`` starts jobs; ``outbox/`` says how they ended.

Objects created under ``inbox/`` reach the trigger function as S3 event notifications through an SQS
queue; the function unpacks them and hands each to :meth:`Inbox.handle_object`. Keys ending in
``.json`` are manifests; every other object (the images a manifest names) is ignored. The whole
manifest is checked before any job starts; a bad one produces ``outbox/<name>.error.json`` and
nothing else. A good one starts its jobs through ``Gateway.submit`` (origin ``inbox``) and is
recorded as an item ``manifest#<key>`` in the jobs table; when its last job ends, the notify function
(:func:`job_ended`) writes ``outbox/<name>.result.json``.

Modules: ``manifest`` (shape and key names, pure), ``planning`` (checks against the deployment, builds
submit requests), ``batches`` (the batch record's rules and its DynamoDB store), ``outbox`` (the files
under ``outbox/``), ``usecase`` (the two sides put together).
"""

from swapgate.inbox.usecase import Inbox, Outcome, complete_if_finished, job_ended

__all__ = ["Inbox", "Outcome", "complete_if_finished", "job_ended"]
