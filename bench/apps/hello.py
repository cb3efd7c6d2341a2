# The bench app for Gunicorn: a trivial WSGI hello world with the same bytes as hello.mjs.
#   GET /pid returns the worker's pid (readiness probe).
import os

HELLO = b"Hello, world!\n"


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/pid":
        body = str(os.getpid()).encode()
    else:
        body = HELLO
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
