"""The durable cloud bridge: a persistent session of our own broker forwarded to a cloud broker.

`config` (models and profile rules), `mapping` (topic remap, pure), `backoff` / `health` / `limits`
(pure, time passed in), `azure` (SAS tokens), `tls` (SSLContext), `cloud` (the only paho importer),
`forwarder` (the session's Link), `service` (one bridge: lifecycle, reconnects, metrics).
"""
