"""Pure ASGI middleware: each runs on every request's hot path.

Order, outermost first (see `app.install_middleware`): request context and
the canonical log line, security headers, CORS, unhandled errors, body size limit.
"""
