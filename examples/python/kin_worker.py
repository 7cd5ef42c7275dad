"""A kin worker in Python: serves named calls over the chan on fd 3.

This module is written from docs/protocol.md alone, to show that the
protocol needs nothing from kin's C code. It uses only the standard library
and Debian's python3-msgpack.

    import kin_worker

    def echo(req):
        return req.args

    kin_worker.serve({"echo": echo})

A handler gets a Request and returns the reply's bytes (None for none).
To fail, it raises CallError(code, detail); the caller sees that code.
"""

import array
import ctypes
import errno
import fcntl
import mmap
import os
import socket
import struct
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import msgpack

VERSION = 1
WORKER_FD = 3

HELLO, CALL, CAST, REPLY, DETACH = range(5)
NO_HANDLER = -38  # the reply to a call of a name this worker does not serve

# Chan framing (docs/protocol.md, "Chan framing").
_HEADER = struct.Struct("<BBHHHI")  # magic, flags, nfds, nchans, reserved, length
_MAGIC = 0x6B
_FLAG_OOB = 0x01
_INLINE_MAX = 65536
_MAX_MESSAGE = 64 << 20
_MAX_FDS = 250
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
_MAX_NAME = 255


class ProtocolError(Exception):
    """The peer broke the protocol; the chan must be dropped."""


class MessageTooLong(Exception):
    """A well-formed message over this end's maximum: it has been dropped
    (its fds closed, its memfd marked taken), and the chan goes on."""


class CallError(Exception):
    """Raised by a handler: the call fails with this code and detail."""

    def __init__(self, code, detail=b""):
        if not isinstance(code, int) or code == 0:
            raise ValueError("a call's error code is a non-zero int")
        super().__init__(code, detail)
        self.code = code
        self.detail = bytes(detail)


class Request:
    """One call or cast. fds (ints) and chans (sockets) that came with it
    belong to the handler: to keep one, take it and put None in its slot;
    the rest are closed when the handler returns."""

    def __init__(self, name, args, fds, chans):
        self.name = name
        self.args = args
        self.fds = fds
        self.chans = chans

    def _close_rest(self):
        for fd in self.fds:
            if fd is not None and fd >= 0:
                os.close(fd)
        for chan in self.chans:
            if chan is not None:
                chan.close()


# ------------------------------------------------------------------ framing

def _close_all(fds):
    for fd in fds:
        os.close(fd)


def _check_chan(fd):
    """A chan attached to a message must be an AF_UNIX SOCK_SEQPACKET socket."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return False  # not a socket at all
    with sock as s:
        return (s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) == socket.AF_UNIX
                and s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_SEQPACKET)


def _mark_taken(fd):
    """Moves a memfd's file offset away from 0: the sender shares it and
    waits for it to leave 0 before it counts the bytes as no longer in
    flight (protocol 4.3). Only for a real memfd: an fd that is something
    else may share its offset with someone who relies on it."""
    try:
        fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        os.lseek(fd, 1, os.SEEK_SET)
    except OSError:
        pass


def _read_memfd(fd, length):
    """The payload of an out-of-band message: a sealed memfd of exactly length bytes."""
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
    except OSError:
        raise ProtocolError("the out-of-band fd is not a memfd")
    if seals & _SEALS != _SEALS:
        raise ProtocolError("the out-of-band memfd is not sealed")
    if os.fstat(fd).st_size != length:
        raise ProtocolError("the out-of-band memfd's size is not the header's length")
    with mmap.mmap(fd, length, prot=mmap.PROT_READ) as m:
        payload = bytes(m)
    _mark_taken(fd)
    return payload


def recv_message(sock):
    """Receives one message: (payload, fds, chans), or None at end of file.
    Raises ProtocolError for anything the framing does not allow, and
    MessageTooLong for a message over 64 MiB, having closed every fd that
    came with it either way."""
    fdsize = array.array("i").itemsize
    data, ancdata, flags, _ = sock.recvmsg(
        _HEADER.size + _INLINE_MAX, socket.CMSG_SPACE((_MAX_FDS + 1) * fdsize),
        socket.MSG_CMSG_CLOEXEC)
    fds = []
    bad = None
    for level, kind, cdata in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            got = array.array("i")
            got.frombytes(cdata[:len(cdata) - len(cdata) % fdsize])
            fds.extend(got)
        else:
            bad = "unexpected control message"
    if not data and not ancdata:
        # End of file: the owner closed the chan. (An empty record would
        # look the same, but the framing never sends one.)
        return None
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        bad = "message or its fds truncated"
    oob = len(data) >= 2 and bool(data[1] & _FLAG_OOB)
    try:
        if bad:
            raise ProtocolError(bad)
        if len(data) < _HEADER.size:
            raise ProtocolError("record shorter than its header")
        magic, hflags, nfds, nchans, reserved, length = _HEADER.unpack_from(data)
        if magic != _MAGIC or hflags & ~_FLAG_OOB or reserved != 0:
            raise ProtocolError("bad header")
        if nfds + nchans > _MAX_FDS:
            raise ProtocolError("too many fds")
        if len(fds) != nfds + nchans + oob:
            raise ProtocolError("fd count does not match the header")
        if oob:
            # Senders go out of band only above 64 KiB, but any length
            # but 0 is well formed.
            if len(data) != _HEADER.size or length == 0:
                raise ProtocolError("bad out-of-band record")
        elif length > _INLINE_MAX or len(data) != _HEADER.size + length:
            raise ProtocolError("record size does not match the header")
        if length > _MAX_MESSAGE:
            # Well formed, only too long for us: not a broken peer, so
            # this message goes and the chan stays (protocol 4.4).
            raise MessageTooLong("a message of %d bytes, over %d" % (length, _MAX_MESSAGE))
        if oob:
            payload = _read_memfd(fds[-1], length)
        else:
            payload = data[_HEADER.size:]
        for fd in fds[nfds:nfds + nchans]:
            if not _check_chan(fd):
                raise ProtocolError("an attached chan is not a SOCK_SEQPACKET socket")
    except (ProtocolError, MessageTooLong):
        # A memfd dropped unread is marked taken too, or its sender
        # would count it in flight for good (protocol 4.3).
        if oob and fds:
            _mark_taken(fds[-1])
        _close_all(fds)
        raise
    if oob:
        os.close(fds.pop())
    chans = [socket.socket(fileno=fd) for fd in fds[nfds:]]
    return payload, fds[:nfds], chans


def send_message(sock, payload, fds=(), chans=()):
    """Sends one message, out of band through a sealed memfd when the
    payload is over 64 KiB. fds and chans are sent, not closed."""
    payload = bytes(payload)
    if len(payload) > _MAX_MESSAGE:
        raise ValueError("message over 64 MiB")
    fds = [*fds, *(c.fileno() for c in chans)]
    if len(fds) > _MAX_FDS:
        raise ValueError("too many fds")
    memfd = -1
    flags = 0
    try:
        if len(payload) > _INLINE_MAX:
            memfd = os.memfd_create("kin-message", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
            # pwrite, not write: the offset must still be 0 when the memfd
            # goes, since the receiver moving it is what says "taken".
            view = memoryview(payload)
            at = 0
            while at < len(view):
                at += os.pwrite(memfd, view[at:], at)
            fcntl.fcntl(memfd, fcntl.F_ADD_SEALS, _SEALS)
            fds.append(memfd)
            flags = _FLAG_OOB
            body = b""
        else:
            body = payload
        header = _HEADER.pack(_MAGIC, flags, len(fds) - (memfd >= 0) - len(chans),
                              len(chans), 0, len(payload))
        anc = []
        if fds:
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        sock.sendmsg([header + body], anc, socket.MSG_NOSIGNAL)
    finally:
        if memfd >= 0:
            os.close(memfd)


# ------------------------------------------------------------------ protocol

def _name_ok(name):
    if not isinstance(name, str):
        return False
    raw = name.encode("utf-8", "surrogateescape")
    return 1 <= len(raw) <= _MAX_NAME and b"\0" not in raw


def _is_int(x):
    return type(x) is int  # not bool, which is an int to Python


def decode(payload):
    """Decodes one protocol message strictly: a list [type, ...]."""
    try:
        # Strs come back as str (bytes that are not UTF-8 survive through
        # surrogateescape) and bins as bytes, so the two stay apart.
        msg = msgpack.unpackb(payload, raw=False, unicode_errors="surrogateescape",
                              strict_map_key=False)
    except Exception as e:  # msgpack raises several kinds
        raise ProtocolError("not MessagePack: %s" % e)
    if not isinstance(msg, list) or not msg or not _is_int(msg[0]):
        raise ProtocolError("not a protocol message")
    kind = msg[0]
    ok = False
    if kind == CALL:
        ok = (len(msg) == 4 and _is_int(msg[1]) and msg[1] > 0 and msg[1] < 2**64
              and _name_ok(msg[2]) and isinstance(msg[3], bytes))
    elif kind == CAST:
        ok = len(msg) == 3 and _name_ok(msg[1]) and isinstance(msg[2], bytes)
    elif kind == DETACH:
        ok = len(msg) == 2 and _is_int(msg[1]) and msg[1] > 0 and msg[1] < 2**64
    if not ok:  # HELLO and REPLY never come to a worker
        raise ProtocolError("malformed or unexpected message")
    return msg


def _detach():
    """Stop dying with the owner: clear the parent-death signal.

    The kernel keeps that signal per thread, and only the thread that was
    exec'd (the main thread, whose thread id is the pid) has it: clearing
    it on any other thread would change nothing and still look done."""
    if threading.get_native_id() != os.getpid():
        raise OSError(errno.EPERM, "DETACH must be served on the main thread")
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")


class Worker:
    def __init__(self, handlers, sock=None, threads=1):
        self.handlers = dict(handlers)
        for name in self.handlers:
            if not _name_ok(name):
                raise ValueError("bad handler name %r" % (name,))
        self.sock = sock if sock is not None else socket.socket(fileno=WORKER_FD)
        # Whatever the owner did to the file description, this end blocks.
        self.sock.setblocking(True)
        self.send_lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=max(1, threads))
        # A message is read only when a thread is free to serve it, so a
        # busy worker leaves the rest in the socket and its owner waits,
        # instead of this process queueing without limit.
        self.free = threading.Semaphore(max(1, threads))

    def send(self, obj):
        payload = msgpack.packb(obj, use_bin_type=True)
        with self.send_lock:
            try:
                send_message(self.sock, payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the owner is gone; the reply has no one to go to
            except OSError as e:
                # A worker that cannot answer cannot go on; its owner
                # learns of it from the exit.
                sys.stderr.write("kin_worker: sending: %s\n" % e)
                os._exit(125)

    def _run(self, req, call_id):
        try:
            handler = self.handlers.get(req.name)
            code, data = NO_HANDLER, b""
            if handler is not None:
                try:
                    data = handler(req)
                    code, data = 0, b"" if data is None else bytes(data)
                except CallError as e:
                    code, data = e.code, e.detail
                except Exception as e:
                    # A bug in a handler fails its call, not the worker.
                    code, data = -errno.EIO, ("%s: %s" % (type(e).__name__, e)).encode()
            if call_id is not None:
                if len(data) > _MAX_MESSAGE - 64:  # room for the rest of the reply
                    code, data = -errno.EMSGSIZE, b"reply over 64 MiB"
                self.send([REPLY, call_id, code, data])
        finally:
            req._close_rest()
            self.free.release()

    def serve(self):
        """Says hello, then serves until the chan closes. Returns when
        every call received has been answered. Call it on the main thread:
        DETACH is served here, and only that thread can clear the
        parent-death signal."""
        self.send([HELLO, VERSION, os.getpid(), list(self.handlers)])
        try:
            while True:
                self.free.acquire()
                try:
                    got = recv_message(self.sock)
                except MessageTooLong as e:
                    # Dropped; a call in it goes unanswered, and its
                    # caller's deadline ends the wait.
                    sys.stderr.write("kin_worker: dropped %s\n" % e)
                    self.free.release()
                    continue
                if got is None:
                    return
                payload, fds, chans = got
                req = Request(None, b"", fds, chans)
                try:
                    msg = decode(payload)
                except ProtocolError:
                    req._close_rest()
                    raise
                if msg[0] == DETACH:
                    req._close_rest()
                    # On this thread, the main one; the REPLY only once it
                    # is done, since the owner takes it as the promise
                    # that we outlive it from now on.
                    _detach()
                    self.send([REPLY, msg[1], 0, b""])
                    self.free.release()
                elif msg[0] == CALL:
                    req.name, req.args = msg[2], msg[3]
                    self.pool.submit(self._run, req, msg[1])
                else:
                    req.name, req.args = msg[1], msg[2]
                    self.pool.submit(self._run, req, None)
        finally:
            self.pool.shutdown(wait=True)


def serve(handlers):
    """Serves handlers ({name: fn(Request) -> bytes}) as a kin worker and
    exits: 0 when the owner closes the chan, 125 on a protocol error or
    when not started as a worker (as kin's own workers do)."""
    # Removed first, so that children this worker starts are ordinary
    # processes, not workers.
    version = os.environ.pop("KIN_WORKER", None)
    threads = os.environ.pop("KIN_WORKER_THREADS", "1")
    if version is None:
        sys.stderr.write("kin_worker: KIN_WORKER is not set: not started as a kin worker\n")
        sys.exit(125)
    if version != str(VERSION):
        # Say hello anyway: the owner names the mismatch from our version.
        sys.stderr.write("kin_worker: owner speaks version %s, this worker %d\n"
                         % (version, VERSION))
    try:
        threads = max(1, int(threads))
    except ValueError:
        threads = 1
    try:
        Worker(handlers, threads=threads).serve()
    except ProtocolError as e:
        sys.stderr.write("kin_worker: protocol error: %s\n" % e)
        sys.exit(125)
    sys.exit(0)
