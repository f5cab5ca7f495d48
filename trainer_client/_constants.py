"""Named defaults of the client; every one can be overridden per client."""

from __future__ import annotations

import httpx

# Reads wait for the whole judgment (the service sends nothing until it is done). The service's default
# deadline is 300 s, after which it answers with `timeout` failures: reading a little longer lets that answer
# arrive.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=330.0, write=30.0, pool=60.0)
# A request with its own deadline (options.timeout_s) is read for that long plus this margin, whatever the read
# timeout: the service answers by its deadline (late items as `timeout` failures); the margin covers the upload,
# admission and the answer's way back.
DEADLINE_READ_MARGIN = 30.0

DEFAULT_MAX_RETRIES = 5
INITIAL_RETRY_DELAY = 0.5  # seconds before the first retry; doubles each time
MAX_RETRY_DELAY = 8.0  # cap of the exponential backoff
MAX_RETRY_AFTER = 60.0  # a server's Retry-After is honoured up to this many seconds
RETRY_JITTER = 0.25  # each backoff is shortened by up to this fraction, so clients do not retry in lockstep

DEFAULT_MAX_CONCURRENCY = 8  # HTTP requests in flight per client, over all endpoints
# Items per HTTP request. The service takes up to 256 (its default); 64 keeps GRPO groups whole for G ∈ {4, 8,
# 16} while letting a large batch fan out over several replicas.
DEFAULT_CHUNK_SIZE = 64

ENDPOINT_COOLDOWN_INITIAL = 1.0  # seconds a failing endpoint is avoided; doubles per consecutive failure
ENDPOINT_COOLDOWN_MAX = 30.0

ENV_URL = "RRM_JUDGE_URL"  # one URL, or several separated by commas
ENV_API_KEY = "RRM_JUDGE_API_KEY"
