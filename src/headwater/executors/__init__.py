"""Where run groups execute: in-process threads (``local``) or Celery workers (``celery``)."""
