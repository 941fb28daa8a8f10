"""gunicorn's settings: it reads this file from the directory it starts in."""

# The access log's request line without its query string: an HTTP block may
# call this portal (Cortex API addresses lead here) with a secret in the query.
# No user either (`-` for %(u)s): that is HTTP Basic's user name, where a
# client may put an API key; Cairn doesn't use Basic authentication.
access_log_format = (
    '%(h)s %(l)s - %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s"'
)

# A run calling this portal with a secret in the URL's path has it logged
# masked (portal/logpath.py):
logger_class = "portal.logpath.GunicornLogger"
