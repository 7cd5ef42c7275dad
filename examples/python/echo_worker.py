#!/usr/bin/python3
"""A kin worker in Python serving four calls; kin starts it with

    argv = {"/usr/bin/python3", "examples/python/echo_worker.py", NULL}

  echo  returns its args unchanged
  add   args MessagePack [a, b] (ints): returns MessagePack a + b
  fail  always fails: error 7, detail b"failed on purpose"
  pid   returns MessagePack os.getpid()
  hold  takes two fds, a pipe's read end and a write end: waits for end of
        file on the first, then writes b"alive" to the second (so a test
        can tell a worker that outlived its owner from one that died)
"""
import errno
import os
import sys

import msgpack

# Found next to this file; no __pycache__ left in the checkout.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kin_worker  # noqa: E402
from kin_worker import CallError  # noqa: E402


def echo(req):
    return req.args


def add(req):
    try:
        a, b = msgpack.unpackb(req.args)
    except Exception:
        raise CallError(-errno.EINVAL, b"add takes MessagePack [a, b]")
    if type(a) is not int or type(b) is not int:
        raise CallError(-errno.EINVAL, b"add takes two ints")
    return msgpack.packb(a + b)


def fail(req):
    raise CallError(7, b"failed on purpose")


def pid(req):
    return msgpack.packb(os.getpid())


def hold(req):
    if len(req.fds) != 2:
        raise CallError(-errno.EINVAL, b"hold takes two fds")
    release, alive = req.fds
    while os.read(release, 4096):
        pass
    os.write(alive, b"alive")


if __name__ == "__main__":
    kin_worker.serve({"echo": echo, "add": add, "fail": fail, "pid": pid, "hold": hold})
