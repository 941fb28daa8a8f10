"""gunicorn's settings: it reads this file from the directory it starts in."""

# The access log's request line without its query string: an HTTP block may
# call this portal (Cortex API addresses lead here) with a secret in the query.
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s"'
)

# A run calling this portal with a secret in the URL's path has it logged
# masked (portal/logpath.py):
logger_class = "portal.logpath.GunicornLogger"
