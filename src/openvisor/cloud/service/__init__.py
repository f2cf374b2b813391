"""The service layer: plain functions that take a SQLAlchemy ``Session``.

Routes, the device-link consumer and the command line call these; none of
them commits, so the caller decides the transaction. Modules:
``accounts`` (accounts, API keys, authentication), ``devices``
(provisioning, lookup, update, presence, tags), ``configs`` (configs,
secrets, device config fetch), ``apps`` (bundle upload and download),
``deployments`` (deployments, update outcomes), ``logs``, ``reports``
(crash reports, debug sessions), ``commands`` (outbox to devices),
``ratelimit`` and ``httpproxy`` (device HTTP requests).
"""
