"""The body back as it came, marked with this function's name."""


def handle(event, context):
    headers = {"Content-Type": "application/octet-stream", "X-Function-Identity": "echo-http"}
    return {"statusCode": 200, "body": event.body, "headers": headers}
