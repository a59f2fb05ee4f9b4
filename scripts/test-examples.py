#!/usr/bin/env python3
"""Builds the apps in Examples/ and runs each against real servers on free loopback ports.

    python3 scripts/test-examples.py [--swift swift]

HummingbirdMemcached and VaporMemcached: each built alone first, from its own product, and the
objects it links are checked to come from no RedisClient, swift-nio-ssl, swift-crypto, MemcachedTLS,
SessionCrypto or Vapor module (no Hummingbird or RedisClient for the Vapor app): the layout promises an app never compiles what it
does not use. Then memcached and the app start; two visits with the cookie count 1, 2; the app
is restarted and the third visit counts 3, so the session lived in memcached, not in the process.

Then every example and its tests are built (the README's snippets live in them:
scripts/check-readme-snippets.py), the examples' own tests run (HummingbirdCart on the memory
store), and HummingbirdCart runs against memcached: a cart, a login, an app restart, and the cart
and the login are still there; logout ends both. HummingbirdSecureMemcached runs against a
memcached with a login (-Y) and only TLS (-Z, certificates made with openssl): two visits across
an app restart, and the session memcached holds (read back over TLS) is encrypted.
Every process started here is stopped here, by its pid.
"""

import argparse
import base64
import glob
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "Examples")
# A memcached app without TLS or encryption compiles no TLS or crypto library (MemcachedTLS and
# SessionCrypto are products of their own for that).
FORBIDDEN_MODULES = ("RedisClient", "NIOSSL", "CNIOBoringSSL", "CCryptoBoringSSL", "SessionCrypto", "MemcachedTLS", "Vapor")


def log(message):
    print(f"test-examples: {message}", flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def find(program):
    path = shutil.which(program) or next((p for p in (f"/usr/sbin/{program}", f"/usr/bin/{program}") if os.path.exists(p)), None)
    if not path:
        sys.exit(f"test-examples: {program} is not installed (scripts/install-deps.sh test installs it)")
    return path


def swift_build(swift, arguments, what):
    started = time.monotonic()
    log(f"building {what} (the first build compiles SwiftNIO, Hummingbird and Vapor: a few minutes)")
    command = [swift, "build", "--package-path", EXAMPLES] + arguments
    attempt = subprocess.run(command, capture_output=True, text=True)
    if attempt.returncode != 0:
        # SwiftPM keeps its build plan when a file of a path dependency (this repository) is
        # added or deleted: it then looks for the deleted file ("missing inputs") or never
        # compiles the new one ("cannot find ... in scope"). A new plan fixes both; a real
        # compile error fails again below.
        log("the build failed: planning it again in case a source file was added or removed since the last build")
        for plan in glob.glob(os.path.join(EXAMPLES, ".build", "*.yaml")) + glob.glob(
            os.path.join(EXAMPLES, ".build", "*", "*", "description.json")
        ):
            os.remove(plan)
        attempt = subprocess.run(command, capture_output=True, text=True)
    if attempt.returncode != 0:
        print(attempt.stdout, end="", file=sys.stderr)
        print(attempt.stderr, end="", file=sys.stderr)
        raise subprocess.CalledProcessError(attempt.returncode, command)
    log(f"built {what} in {time.monotonic() - started:.0f} s")
    return subprocess.run(
        [swift, "build", "--package-path", EXAMPLES, "--show-bin-path"], check=True, capture_output=True, text=True
    ).stdout.strip()


def build(swift, product):
    return swift_build(swift, ["--product", product], product)


def linked_modules(bin_path, product):
    """The modules whose objects the product links: what building it compiled. Read from the link
    file list SwiftPM writes for the product, so other products built earlier do not count."""
    link_list = os.path.join(bin_path, f"{product}.product", "Objects.LinkFileList")
    modules = set()
    with open(link_list) as objects:
        for line in objects:
            for part in line.strip().strip("'\"").split(os.sep):
                if part.endswith(".build"):
                    modules.add(part[: -len(".build")])
    return modules


def wait_until_listening(port, process, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def get(port, path, cookie=None, method="GET"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return response.status, response.getheader("Set-Cookie"), response.read().decode()
    finally:
        connection.close()


class Processes:
    """The processes this script started, stopped by pid whatever happens; their output goes to
    log files in `directory`, shown when something fails."""

    def __init__(self, directory):
        self.directory = directory
        self.running = []
        self.logs = []

    def start(self, arguments, env=None):
        log_path = os.path.join(self.directory, f"{len(self.logs)}-{os.path.basename(arguments[0])}.log")
        with open(log_path, "w") as log_file:
            process = subprocess.Popen(arguments, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        self.running.append(process)
        self.logs.append(log_path)
        return process

    def print_logs(self):
        for path in self.logs:
            with open(path) as log_file:
                tail = log_file.read()[-2000:]
            if tail:
                print(f"--- {path}\n{tail}", file=sys.stderr)

    def stop(self, process):
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process in self.running:
            self.running.remove(process)

    def stop_all(self):
        for process in list(self.running):
            self.stop(process)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def counter_app(swift, processes, product, forbidden, framework):
    """A visit counter whose sessions live in memcached: compiled alone without `forbidden`
    modules, then visits 1, 2, an app restart, 3."""
    bin_path = build(swift, product)
    modules = linked_modules(bin_path, product)
    check("MemcachedClient" in modules and framework in modules, f"the module check sees no compiled module: {sorted(modules)}")
    found = sorted(m for m in modules if m.startswith(forbidden))
    check(not found, f"{product} compiled {', '.join(found)}")
    log(f"{product} compiled none of {', '.join(forbidden)}")

    memcached_port, app_port = start_memcached(processes), free_port()
    env = dict(os.environ, MEMCACHED_NODES=f"127.0.0.1:{memcached_port}", PORT=str(app_port))
    app = processes.start([os.path.join(bin_path, product)], env=env)
    wait_until_listening(app_port, app)

    status, set_cookie, body = get(app_port, "/visits")
    check(status == 200 and body.strip() == "1", f"first visit: {status} {body!r}")
    check(set_cookie and set_cookie.startswith("SESSIONID="), f"first visit sets the cookie: {set_cookie!r}")
    cookie = set_cookie.split(";")[0]
    status, set_cookie, body = get(app_port, "/visits", cookie)
    check(status == 200 and body.strip() == "2", f"second visit: {status} {body!r}")
    check(set_cookie is None, f"no Set-Cookie for an unchanged id: {set_cookie!r}")

    processes.stop(app)  # SIGTERM: graceful shutdown
    app = processes.start([os.path.join(bin_path, product)], env=env)
    wait_until_listening(app_port, app)
    status, _, body = get(app_port, "/visits", cookie)
    check(status == 200 and body.strip() == "3", f"after a restart of the app the session is still there: {status} {body!r}")
    log(f"{product}: 3 visits, one app restart, one session in memcached")
    if framework == "Vapor":
        # Login through DistributedSessionAuthenticator: known on the next request, gone after logout.
        status, set_cookie, _ = get(app_port, "/login/alice", cookie, method="POST")
        check(status == 200 and set_cookie, f"login answers with a new id: {status} {set_cookie!r}")
        logged_in = set_cookie.split(";")[0]
        status, _, body = get(app_port, "/account", logged_in)
        check(status == 200 and body.strip() == "Alice", f"the account page knows the user: {status} {body!r}")
        get(app_port, "/logout", logged_in, method="POST")
        status, _, _ = get(app_port, "/account", logged_in)
        check(status == 401, f"after logout the account page refuses: {status}")
        log(f"{product}: login, account, logout")


def start_memcached(processes):
    port = free_port()
    as_root = ["-u", "root"] if os.geteuid() == 0 else []  # memcached refuses to run as root otherwise
    memcached = processes.start([find("memcached"), "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "16"] + as_root)
    wait_until_listening(port, memcached)
    return port


def every_example_and_its_tests(swift):
    swift_build(swift, ["--build-tests"], "every example and its tests")
    started = time.monotonic()
    result = subprocess.run([swift, "test", "--package-path", EXAMPLES, "--skip-build"], capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout[-6000:], end="", file=sys.stderr)
        print(result.stderr[-3000:], end="", file=sys.stderr)
        raise AssertionError("the examples' own tests failed")
    summary = [line for line in result.stdout.splitlines() if "Test run with" in line]
    log(f"examples' tests: {summary[-1].strip() if summary else 'passed'} ({time.monotonic() - started:.0f} s)")


def hummingbird_cart(swift, processes):
    bin_path = swift_build(swift, ["--product", "HummingbirdCart"], "HummingbirdCart")
    env = dict(os.environ, MEMCACHED_NODES=f"127.0.0.1:{start_memcached(processes)}", PORT=str(free_port()))
    port = int(env["PORT"])
    app = processes.start([os.path.join(bin_path, "HummingbirdCart")], env=env)
    wait_until_listening(port, app)

    status, set_cookie, body = get(port, "/cart")
    check(status == 200 and body == "" and set_cookie is None, f"an anonymous cart creates no session: {status} {set_cookie!r}")
    status, set_cookie, body = get(port, "/cart/items?item=tea", method="POST")
    check(status == 200 and set_cookie, f"adding to the cart creates the session: {status} {set_cookie!r} {body!r}")
    anonymous = set_cookie.split(";")[0]
    status, set_cookie, body = get(port, "/login?user=alice&password=wonderland", anonymous, method="POST")
    check(status == 200 and set_cookie and set_cookie.split(";")[0] != anonymous, f"login rotates the id: {status} {set_cookie!r}")
    cookie = set_cookie.split(";")[0]

    processes.stop(app)  # SIGTERM: graceful shutdown
    app = processes.start([os.path.join(bin_path, "HummingbirdCart")], env=env)
    wait_until_listening(port, app)
    status, _, body = get(port, "/cart", cookie)
    check(status == 200 and body == "tea", f"after an app restart the cart is in memcached: {status} {body!r}")
    status, _, body = get(port, "/account", cookie)
    check(status == 200 and body == "Alice", f"after an app restart the login holds: {status} {body!r}")
    status, _, _ = get(port, "/account", anonymous)
    check(status == 401, f"the pre-login id is dead: {status}")
    status, set_cookie, _ = get(port, "/logout", cookie, method="POST")
    check(status == 200 and set_cookie and "Max-Age=0" in set_cookie, f"logout expires the cookie: {set_cookie!r}")
    status, _, body = get(port, "/cart", cookie)
    check(status == 200 and body == "", f"logout ends the cart too: {body!r}")
    log("HummingbirdCart: cart, login, app restart, logout against memcached")


def secure_memcached(swift, processes):
    """HummingbirdSecureMemcached against a memcached that wants a login (-Y) and speaks only TLS
    (-Z, certificates made here with openssl): visits count across an app restart, and what
    memcached holds is an encrypted session, read back over TLS after logging in ourselves."""
    bin_path = swift_build(swift, ["--product", "HummingbirdSecureMemcached"], "HummingbirdSecureMemcached")
    directory = processes.directory

    def openssl(*arguments):
        subprocess.run([find("openssl"), *arguments], cwd=directory, check=True, capture_output=True)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=examples CA")
    openssl("req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(directory, "san.ext"), "w") as extensions:
        extensions.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt",
            "-days", "2", "-extfile", "san.ext")
    with open(os.path.join(directory, "auth"), "w") as auth:
        auth.write("app:s3cret-pass\n")

    port = free_port()
    as_root = ["-u", "root"] if os.geteuid() == 0 else []
    memcached = processes.start([
        find("memcached"), "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "16", "-Y", os.path.join(directory, "auth"),
        "-Z", "-o", f"ssl_chain_cert={directory}/server.crt,ssl_key={directory}/server.key",
    ] + as_root)
    wait_until_listening(port, memcached)

    app_port = free_port()
    env = dict(os.environ, MEMCACHED_NODES=f"127.0.0.1:{port}", PORT=str(app_port), MEMCACHED_USERNAME="app",
               MEMCACHED_PASSWORD="s3cret-pass", MEMCACHED_TLS_CA_FILE=os.path.join(directory, "ca.crt"),
               SESSION_ENCRYPTION_KEYS=base64.b64encode(os.urandom(32)).decode())
    product = os.path.join(bin_path, "HummingbirdSecureMemcached")
    app = processes.start([product], env=env)
    wait_until_listening(app_port, app)
    status, set_cookie, body = get(app_port, "/visits")
    check(status == 200 and body.strip() == "1" and set_cookie, f"first visit: {status} {body!r} {set_cookie!r}")
    cookie = set_cookie.split(";")[0]
    processes.stop(app)
    app = processes.start([product], env=env)
    wait_until_listening(app_port, app)
    status, _, body = get(app_port, "/visits", cookie)
    check(status == 200 and body.strip() == "2", f"after a restart of the app: {status} {body!r}")

    context = ssl.create_default_context(cafile=os.path.join(directory, "ca.crt"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(raw, server_hostname="localhost") as tls:
        session_key = cookie.split("=", 1)[1].split("-")[0]
        credentials = b"app s3cret-pass"
        tls.sendall(b"set auth 0 0 %d\r\n%s\r\nmg %s v\r\n" % (len(credentials), credentials, session_key.encode()))
        reply = b""

        def complete():  # STORED, then `VA <size>` and that many bytes and CRLF, or `EN`
            lines = reply.split(b"\r\n", 2)
            if len(lines) < 3:
                return False
            if not lines[1].startswith(b"VA "):
                return True
            return len(lines[2]) >= int(lines[1].split()[1]) + 2

        while not complete():
            chunk = tls.recv(65536)
            if not chunk:
                break
            reply += chunk
    check(reply.startswith(b"STORED\r\nVA "), f"memcached over TLS after our own login: {reply[:60]!r}")
    stored = reply.split(b"\r\n", 2)[2]
    check(stored.startswith(b"MSME") and b"visits" not in stored, f"the stored session is encrypted: {stored[:40]!r}")
    log("HummingbirdSecureMemcached: 2 visits across an app restart through memcached -Y -Z, the stored session encrypted")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swift", default=os.environ.get("SWIFT", "swift"))
    arguments = parser.parse_args()
    checks = [
        (
            "HummingbirdMemcached",
            lambda processes: counter_app(arguments.swift, processes, "HummingbirdMemcached", FORBIDDEN_MODULES, "Hummingbird"),
        ),
        (
            "VaporMemcached",
            lambda processes: counter_app(arguments.swift, processes, "VaporMemcached", ("Hummingbird", "RedisClient"), "Vapor"),
        ),
        ("every example and its tests", lambda processes: every_example_and_its_tests(arguments.swift)),
        ("HummingbirdCart", lambda processes: hummingbird_cart(arguments.swift, processes)),
        ("HummingbirdSecureMemcached", lambda processes: secure_memcached(arguments.swift, processes)),
    ]
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="msm-examples-") as directory:
        for index, (name, run) in enumerate(checks):
            processes = Processes(os.path.join(directory, str(index)))
            os.makedirs(processes.directory)
            try:
                run(processes)
                passed += 1
            except Exception as error:  # anything at all: report it, and stop what was started
                print(f"test-examples: FAILED {name}: {type(error).__name__}: {error}", file=sys.stderr)
                processes.print_logs()
                failed += 1
            finally:
                processes.stop_all()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
