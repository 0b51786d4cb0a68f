#!/bin/sh
# The handler's test, run by the image build: a failure fails the build.
set -eu
out=$(printf hello | ./handler)
[ "$out" = hello ] || { echo "handler answered '$out', expected 'hello'" >&2; exit 1; }
echo "test passed"
