"""Purge: remove everything Swapgate stored for a job, at its owner's request.

The record becomes a tombstone first (``JobStore.purge``: ``data_removed``, status and times kept until
the record's TTL), so that no late webhook, poll or stream event can bring data back (their writes are
conditional on ``attribute_not_exists(data_removed)``). Then the objects go, every version of them:
the job's ``uploads/`` inputs, ``staging/`` before ``results/`` (a publish racing the purge then finds
nothing to copy, or copies before ``results/`` is cleared), and the built-in engine's ``engine/`` objects.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from swapgate.jobs import Job, JobStore
from swapgate.providers.registry import results_in_bucket
from swapgate.storage import Storage, result_prefix, staging_prefix

logger = Logger(child=True)


def purge(store: JobStore, storage: Storage, job: Job) -> Job:
    """Purge ``job`` (read, or canceled, just before): returns its tombstone. Idempotent."""
    tombstone = store.purge(job.id)
    removed = sum(storage.remove_everywhere(key, exact=True) for key in job.upload_keys or [])
    removed += storage.remove_everywhere(staging_prefix(job.id))
    removed += storage.remove_everywhere(result_prefix(job.id))
    if job.provider_job_id and results_in_bucket(job.provider):  # the engine's inputs, record and output
        removed += storage.remove_everywhere(f"engine/{job.provider_job_id}")
    logger.info("job purged", extra={"status": tombstone.status, "objects": removed})
    return tombstone
