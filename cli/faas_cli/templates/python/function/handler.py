def handle(req):
    """Called once per request with the body as str; the return value is the response."""
    return req
