"""What an operator sees of a running app: Prometheus metrics (metrics.py), JSON log lines with a
request id and nothing secret in them (logs.py), and the one place every request passes through to
be timed and given its id (requests.py)."""

import os
from pathlib import Path

# prometheus-client picks file-backed values at import when PROMETHEUS_MULTIPROC_DIR is set, and the
# metrics metrics.py makes at import open their files in it there and then: a directory gone since
# (on /run or /tmp, after a reboot) crashed every `tally` command with a traceback, before
# metrics.prepare_directory, which makes it, was ever reached. Made here, before metrics.py imports it.
_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _MULTIPROC_DIR:
    Path(_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
