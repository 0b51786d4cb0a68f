def handle(event, context):
    """event.body (bytes), .headers, .method, .query, .path; return a dict or a body."""
    headers = {"Content-Type": "application/octet-stream"}
    return {"statusCode": 200, "body": event.body, "headers": headers}
