"""What an operator sees of a running app: Prometheus metrics (metrics.py), JSON log lines with a
request id and nothing secret in them (logs.py), and the one place every request passes through to
be timed and given its id (requests.py)."""
