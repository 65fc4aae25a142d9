"""Checks deploy/ (Dockerfile, Kubernetes manifests, README) statically,
against the real binaries: flag names from `etagd --helpfull`, endpoint paths
and the gRPC health service from a running etagd, shared libraries from `ldd`
mapped to Debian packages with `dpkg -S`.

No Docker engine or cluster is needed; kustomize's few transformers that the
manifests use are applied here (and any other kustomization field fails the
test, so the check cannot silently fall behind the manifests).
"""

import copy
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request


def _use_debian_python():
    """Re-executes under Debian's /usr/bin/python3 if PyYAML is missing.

    python3-yaml is a Debian package; a python3 that comes first on PATH
    from elsewhere (pyenv, a venv) does not see it.
    """
    try:
        import yaml  # pylint: disable=unused-import,import-outside-toplevel
    except ImportError:
        debian = "/usr/bin/python3"
        if (os.access(debian, os.X_OK) and
                os.path.realpath(sys.executable) != os.path.realpath(debian) and
                not os.environ.get("ETAGD_TEST_REEXECUTED")):
            os.environ["ETAGD_TEST_REEXECUTED"] = "1"
            os.execv(debian, [debian] + sys.argv)
        raise


_use_debian_python()
import yaml  # pylint: disable=wrong-import-position

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import junit_result  # pylint: disable=wrong-import-position

# Bounds on waits for a child process; not expected durations.
TIMEOUT_SECONDS = 60

WORKSPACE = "etagd"


def runfile(path):
    root = os.environ.get("TEST_SRCDIR")
    if root is None:
        return os.path.join(os.path.dirname(__file__), "..", "..", path)
    return os.path.join(root, WORKSPACE, path)


ETAGD = runfile("service/etagd")
BINARIES = {
    "//service:etagd": runfile("service/etagd"),
    "//gateway:etagd-gateway": runfile("gateway/etagd-gateway"),
    "//client:etagctl": runfile("client/etagctl"),
}
HEALTH_CHECK = runfile("tests/deploy/grpc_health_check")
DOCKERFILE = runfile("deploy/Dockerfile")
README = runfile("deploy/README.md")
K8S = runfile("deploy/k8s")
BASE = os.path.join(K8S, "base")
OVERLAY = os.path.join(K8S, "overlays", "example")
SECURE_OVERLAY = os.path.join(K8S, "overlays", "secure")
ETCD_OVERLAY = os.path.join(K8S, "overlays", "etcd")
API_PROTO = runfile("proto/etagd/v1/etagd.proto")

# The flags that etagd reads from ETAGD_<FLAG>: those defined in its own
# sources (service/env_flags.cc).
OWN_FLAG_SOURCES = ("service/", "gateway/", "client/")


# ---------------------------------------------------------------------------
# The real binaries.

def flags_of(binary):
    """Names of the flags `binary` defines in etagd's own sources."""
    result = subprocess.run([binary, "--helpfull"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True,
                            timeout=TIMEOUT_SECONDS, check=False)
    text = result.stdout + result.stderr
    flags = set()
    source = None
    for line in text.splitlines():
        header = re.match(r"^\s*Flags from (\S+):$", line)
        if header:
            source = header.group(1)
            continue
        flag = re.match(r"^    --([A-Za-z0-9_]+) \(", line)
        if flag and source is not None and source.startswith(OWN_FLAG_SOURCES):
            flags.add(flag.group(1))
    if not flags:
        raise AssertionError("no flags in %s --helpfull:\n%s" % (binary, text))
    return flags


def env_name(flag):
    return "ETAGD_" + flag.upper()


def parse_duration(text):
    """Seconds in an absl/Go duration such as "20s", "1m30s", "500ms"."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6,
             "ns": 1e-9}
    if text in ("0", "inf"):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|ns|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError("not a duration: %r" % text)
    return sum(float(n) * units[u] for n, u in parts)


def default_of(binary, flag):
    """The default value of --`flag` as --helpfull shows it."""
    text = subprocess.run([binary, "--helpfull"], capture_output=True,
                          text=True, timeout=TIMEOUT_SECONDS,
                          check=False).stdout
    match = re.search(r"--%s \(.*?\);\s+default: (.*?);" % re.escape(flag),
                      text, re.S)
    if not match:
        raise AssertionError("no default for --%s in --helpfull" % flag)
    return match.group(1).strip('"')


class RunningEtagd:
    """An etagd child process; stderr is collected by a thread."""

    def __init__(self, args, env):
        self._lines = []
        self._cond = threading.Condition()
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            [ETAGD] + args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=env, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stderr:
            with self._cond:
                self._lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._lines.append(None)
            self._cond.notify_all()

    def stderr_text(self):
        with self._cond:
            return "\n".join(l for l in self._lines if l is not None)

    def wait_for_line(self, substring, timeout=TIMEOUT_SECONDS):
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self._lines[seen:]:
                    if line is None:
                        raise AssertionError(
                            "etagd exited without a line containing %r:\n%s"
                            % (substring, self.stderr_text()))
                    if substring in line:
                        return line
                seen = len(self._lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no line containing %r within %ss:\n%s"
                                         % (substring, timeout,
                                            self.stderr_text()))
                self._cond.wait(left)

    def stop(self):
        """SIGTERM; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(timeout=TIMEOUT_SECONDS)
        return code


def clean_environment():
    """This process's environment without any ETAGD_* setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ETAGD_")}


def start_etagd(directory, env_settings=None):
    """Starts etagd on free loopback ports with state under `directory`.

    Returns (process, grpc_address, http_port).
    """
    env = clean_environment()
    env.update(env_settings or {})
    # The command line wins over the environment (service/env_flags.h).
    etagd = RunningEtagd([
        "--grpc_listen=127.0.0.1:0", "--http_listen=127.0.0.1:0",
        "--data_dir=" + os.path.join(directory, "data"),
        "--checkpoint_dir=" + os.path.join(directory, "checkpoints"),
    ], env)
    try:
        line = etagd.wait_for_line("serving gRPC on ")
    except AssertionError:
        etagd.stop()
        raise
    match = re.search(r"serving gRPC on (\S+?:\d+) and HTTP on \S+?:(\d+);",
                      line)
    if not match:
        etagd.stop()
        raise AssertionError("unexpected startup line: %s" % line)
    return etagd, match.group(1), int(match.group(2))


def http_get(port, path):
    """(status, content type, body) of GET http://127.0.0.1:port/path."""
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return (response.status, response.headers.get("Content-Type", ""),
                    response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read().decode(
            "utf-8", "replace")


def shared_libraries(binary):
    """Absolute paths of the shared libraries `ldd` says `binary` loads."""
    output = subprocess.run(["ldd", binary], capture_output=True, text=True,
                            timeout=TIMEOUT_SECONDS, check=True).stdout
    paths = []
    for line in output.splitlines():
        line = line.strip()
        if "=>" in line:
            target = line.split("=>", 1)[1].strip()
            if target.startswith("not found"):
                raise AssertionError("%s: %s" % (binary, line))
            path = target.split(" (")[0].strip()
            if path:
                paths.append(path)
        elif line.startswith("/"):
            paths.append(line.split(" (")[0].strip())  # The dynamic loader.
    return paths


def path_variants(path):
    """`path` as dpkg may have recorded it on a merged-/usr system."""
    variants = []
    for p in (path, os.path.realpath(path)):
        variants.append(p)
        if p.startswith("/usr/"):
            variants.append(p[len("/usr"):])
        else:
            variants.append("/usr" + p)
    return list(dict.fromkeys(variants))


def owning_packages(paths):
    """{path: Debian package} for each path, via one `dpkg -S` call."""
    candidates = sorted({v for p in paths for v in path_variants(p)})
    output = subprocess.run(["dpkg", "-S"] + candidates, capture_output=True,
                            text=True, timeout=TIMEOUT_SECONDS,
                            check=False).stdout
    owner = {}
    for line in output.splitlines():
        if line.startswith("diversion ") or ": " not in line:
            continue
        packages, _, file_path = line.partition(": ")
        # "libc6:amd64" or "pkg1, pkg2"; one owner is enough.
        owner[file_path.strip()] = packages.split(",")[0].split(":")[0].strip()
    result = {}
    for path in paths:
        for variant in path_variants(path):
            if variant in owner:
                result[path] = owner[variant]
                break
        else:
            raise AssertionError("dpkg -S knows no package for %s" % path)
    return result


# ---------------------------------------------------------------------------
# The Dockerfile.

def parse_dockerfile(path):
    """[{image, name, instructions: [(KEYWORD, arguments)]}] per stage."""
    logical = []
    pending = ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if line.startswith("#") or (not line and not pending):
                continue  # Comments, also inside a continued instruction.
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            logical.append(pending + line)
            pending = ""
    if pending:
        logical.append(pending)
    stages = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        arguments = arguments.strip()
        if keyword == "FROM":
            words = arguments.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append({"image": words[0], "name": name, "instructions": []})
        elif not stages:
            if keyword != "ARG":
                raise AssertionError("%s before FROM" % keyword)
        else:
            stages[-1]["instructions"].append((keyword, arguments))
    return stages


def instructions(stage, keyword):
    return [a for k, a in stage["instructions"] if k == keyword]


def apt_installed(stage):
    """Package names that the stage's RUN apt-get install commands name."""
    packages = []
    for run in instructions(stage, "RUN"):
        for command in re.split(r"&&|;|\|\|", run):
            words = command.split()
            for i in range(len(words) - 1):
                if words[i] in ("apt-get", "apt") and words[i + 1] == "install":
                    packages += [w for w in words[i + 2:] if not w.startswith("-")]
                    break
    return packages


def dockerfile_env(stage):
    env = {}
    for arguments in instructions(stage, "ENV"):
        words = shlex.split(arguments)
        if words and "=" not in words[0]:
            raise AssertionError("use ENV KEY=VALUE, not the legacy form: %s"
                                 % arguments)
        for word in words:
            key, _, value = word.partition("=")
            env[key] = value
    return env


def json_or_words(arguments):
    if arguments.startswith("["):
        return json.loads(arguments)
    return arguments.split()


# ---------------------------------------------------------------------------
# Kustomize, the parts these manifests use.

KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "resources", "namespace",
                        "images", "replicas", "patches"}
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "StorageClass",
                  "ClusterRole", "ClusterRoleBinding",
                  "CustomResourceDefinition", "PriorityClass"}
WORKLOADS = {"Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "Job"}


def load_documents(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_kustomization(directory):
    path = os.path.join(directory, "kustomization.yaml")
    documents = load_documents(path)
    if len(documents) != 1:
        raise AssertionError("%s: one document expected" % path)
    return documents[0]


def pod_specs(obj):
    if obj.get("kind") in WORKLOADS:
        yield obj["spec"]["template"]["spec"]
    elif obj.get("kind") == "Pod":
        yield obj["spec"]


def containers_of(obj):
    for spec in pod_specs(obj):
        for key in ("initContainers", "containers"):
            for container in spec.get(key, []):
                yield container


def image_name(image):
    """The image reference without its tag or digest."""
    name = image.split("@")[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    return name


def json_pointer(path):
    if not path.startswith("/"):
        raise AssertionError("bad JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def apply_json_patch(obj, operations):
    """RFC 6902 add/replace/remove/test, enough for kustomize patches."""
    for op in operations:
        *parents, last = json_pointer(op["path"])
        node = obj
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        kind = op["op"]
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if kind == "add":
                node.insert(index, copy.deepcopy(op["value"]))
            elif kind == "replace":
                node[index] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del node[index]
            elif kind == "test":
                assert node[index] == op["value"], op
            else:
                raise AssertionError("unsupported patch op %r" % kind)
        else:
            if kind == "add":
                node[last] = copy.deepcopy(op["value"])
            elif kind == "replace":
                if last not in node:
                    raise AssertionError("replace of missing %s" % op["path"])
                node[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del node[last]
            elif kind == "test":
                assert node[last] == op["value"], op
            else:
                raise AssertionError("unsupported patch op %r" % kind)


def matches_target(obj, target):
    group, _, version = obj["apiVersion"].rpartition("/")
    checks = {
        "kind": obj["kind"], "name": obj["metadata"]["name"],
        "group": group, "version": version,
        "namespace": obj["metadata"].get("namespace"),
    }
    return all(checks.get(k) == v for k, v in target.items())


def render(directory):
    """The objects `kustomize build directory` would output (in some order)."""
    kustomization = load_kustomization(directory)
    unknown = set(kustomization) - KUSTOMIZATION_FIELDS
    if unknown:
        raise AssertionError(
            "%s uses %s, which this test's renderer does not apply; extend "
            "render() in %s" % (directory, sorted(unknown), __file__))
    objects = []
    for resource in kustomization.get("resources", []):
        path = os.path.normpath(os.path.join(directory, resource))
        if os.path.isdir(path):
            objects += render(path)
        else:
            objects += copy.deepcopy(load_documents(path))
    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
    for entry in kustomization.get("images", []):
        changed = False
        for obj in objects:
            for container in containers_of(obj):
                if image_name(container["image"]) != entry["name"]:
                    continue
                name = entry.get("newName", entry["name"])
                if "digest" in entry:
                    container["image"] = "%s@%s" % (name, entry["digest"])
                else:
                    old_tag = container["image"][len(image_name(container["image"])):]
                    tag = (":" + str(entry["newTag"])) if "newTag" in entry else old_tag
                    container["image"] = name + tag
                changed = True
        if not changed:
            raise AssertionError("%s: images entry %r matches no container "
                                 "image" % (directory, entry["name"]))
    for entry in kustomization.get("replicas", []):
        targets = [o for o in objects if o["kind"] in WORKLOADS and
                   o["metadata"]["name"] == entry["name"]]
        if not targets:
            raise AssertionError("%s: replicas entry %r matches no workload"
                                 % (directory, entry["name"]))
        for obj in targets:
            obj["spec"]["replicas"] = entry["count"]
    for entry in kustomization.get("patches", []):
        if "path" in entry:
            with open(os.path.join(directory, entry["path"]), encoding="utf-8") as f:
                patch = yaml.safe_load(f)
        else:
            patch = yaml.safe_load(entry["patch"])
        if isinstance(patch, dict) and patch.get("$patch") == "delete":
            # A strategic-merge patch that deletes the object it names.
            doomed = [o for o in objects if o["apiVersion"] == patch["apiVersion"] and
                      o["kind"] == patch["kind"] and
                      o["metadata"]["name"] == patch["metadata"]["name"]]
            if not doomed:
                raise AssertionError("%s: delete patch of %s %s matches nothing"
                                     % (directory, patch["kind"],
                                        patch["metadata"]["name"]))
            objects = [o for o in objects if not any(o is d for d in doomed)]
            continue
        if not isinstance(patch, list):
            raise AssertionError("%s: only JSON 6902 patches are applied here"
                                 % directory)
        targets = [o for o in objects if matches_target(o, entry["target"])]
        if not targets:
            raise AssertionError("%s: patch target %r matches nothing"
                                 % (directory, entry["target"]))
        for obj in targets:
            apply_json_patch(obj, patch)
    return objects


def only(objects, kind, name=None):
    found = [o for o in objects if o["kind"] == kind and
             (name is None or o["metadata"]["name"] == name)]
    if len(found) != 1:
        raise AssertionError("expected one %s %s, found %d" %
                             (kind, name or "", len(found)))
    return found[0]


# ---------------------------------------------------------------------------
# Shared, computed once.

class Facts:
    """Values that several tests need, computed on first use."""
    _cache = {}

    @classmethod
    def get(cls, key, compute):
        if key not in cls._cache:
            cls._cache[key] = compute()
        return cls._cache[key]

    @classmethod
    def etagd_flags(cls):
        return cls.get("etagd_flags", lambda: flags_of(ETAGD))

    @classmethod
    def base(cls):
        return cls.get("base", lambda: render(BASE))

    @classmethod
    def stages(cls):
        return cls.get("stages", lambda: parse_dockerfile(DOCKERFILE))

    @classmethod
    def statefulset(cls):
        return only(cls.base(), "StatefulSet")

    @classmethod
    def pod_spec(cls):
        return cls.statefulset()["spec"]["template"]["spec"]

    @classmethod
    def container(cls):
        containers = cls.pod_spec()["containers"]
        named = [c for c in containers if c["name"] == "etagd"]
        if len(named) != 1:
            raise AssertionError("no container named etagd")
        return named[0]

    @classmethod
    def config(cls):
        """The ConfigMap data that the etagd container gets via envFrom."""
        container = cls.container()
        names = [s["configMapRef"]["name"] for s in container.get("envFrom", [])
                 if "configMapRef" in s]
        data = {}
        for name in names:
            data.update(only(cls.base(), "ConfigMap", name).get("data", {}))
        return data

    @classmethod
    def container_ports(cls):
        return {p["name"]: p["containerPort"] for p in cls.container()["ports"]}


def listen_port(address):
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise AssertionError("not HOST:PORT: %r" % address)
    return host, int(port)


def resolve_port(port):
    """A probe's or Service's port (name or number) as a container port."""
    if isinstance(port, int):
        return port
    ports = Facts.container_ports()
    if port not in ports:
        raise AssertionError("no container port named %r" % port)
    return ports[port]


# ---------------------------------------------------------------------------
# Tests.

class ManifestFilesTest(unittest.TestCase):
    """The files under deploy/k8s and the kustomizations tying them."""

    def test_every_yaml_file_parses_into_kubernetes_objects(self):
        files = sorted(glob.glob(os.path.join(K8S, "**", "*.yaml"), recursive=True))
        self.assertGreaterEqual(len(files), 8, files)
        for path in files:
            documents = load_documents(path)
            self.assertTrue(documents, "%s is empty" % path)
            for document in documents:
                self.assertIsInstance(document, dict, path)
                self.assertIn("apiVersion", document, path)
                self.assertIn("kind", document, path)
                if document["kind"] != "Kustomization":
                    self.assertTrue(document.get("metadata", {}).get("name"),
                                    "%s: an object without metadata.name" % path)

    def test_kustomization_references_exist(self):
        for path in glob.glob(os.path.join(K8S, "**", "kustomization.yaml"),
                              recursive=True):
            directory = os.path.dirname(path)
            kustomization = load_kustomization(directory)
            for resource in kustomization.get("resources", []):
                target = os.path.normpath(os.path.join(directory, resource))
                if os.path.isdir(target):
                    self.assertTrue(
                        os.path.isfile(os.path.join(target, "kustomization.yaml")),
                        "%s: %s has no kustomization.yaml" % (path, resource))
                else:
                    self.assertTrue(os.path.isfile(target),
                                    "%s: missing resource %s" % (path, resource))
            for patch in kustomization.get("patches", []):
                if "path" in patch:
                    self.assertTrue(os.path.isfile(os.path.join(directory, patch["path"])),
                                    "%s: missing patch %s" % (path, patch["path"]))

    def test_base_kustomization_lists_every_manifest_in_base(self):
        listed = set(load_kustomization(BASE).get("resources", []))
        present = {os.path.basename(p) for p in glob.glob(os.path.join(BASE, "*.yaml"))}
        present.discard("kustomization.yaml")
        self.assertEqual(listed, present)

    def test_base_holds_the_expected_objects(self):
        kinds = sorted((o["kind"], o["metadata"]["name"]) for o in Facts.base())
        self.assertEqual(kinds, sorted([
            ("ConfigMap", "etagd-config"), ("PodDisruptionBudget", "etagd"),
            ("Service", "etagd"), ("Service", "etagd-headless"),
            ("StatefulSet", "etagd")]))
        # The Service links must not leak into the flags: see
        # test_service_links_are_disabled.

    def test_overlay_changes_image_storage_class_and_replicas_only(self):
        base = Facts.base()
        overlay = render(OVERLAY)
        namespace = load_kustomization(OVERLAY).get("namespace")
        base_sts = only(base, "StatefulSet")
        overlay_sts = only(overlay, "StatefulSet")

        base_image = Facts.container()["image"]
        overlay_image = [c for c in containers_of(overlay_sts)
                         if c["name"] == "etagd"][0]["image"]
        self.assertNotEqual(overlay_image, base_image)
        self.assertNotEqual(image_name(overlay_image), image_name(base_image))

        self.assertNotEqual(overlay_sts["spec"]["replicas"],
                            base_sts["spec"].get("replicas", 1))

        def storage_class(sts):
            return [t["spec"].get("storageClassName")
                    for t in sts["spec"]["volumeClaimTemplates"]]
        self.assertTrue(all(storage_class(overlay_sts)), storage_class(overlay_sts))
        self.assertNotEqual(storage_class(overlay_sts), storage_class(base_sts))

        # Nothing else differs, apart from the namespace and the Namespace
        # object that the overlay adds.
        def normalized(objects):
            result = {}
            for obj in copy.deepcopy(objects):
                if obj["kind"] == "Namespace":
                    continue
                obj["metadata"].pop("namespace", None)
                if obj["kind"] == "StatefulSet":
                    obj["spec"].pop("replicas", None)
                    for template in obj["spec"]["volumeClaimTemplates"]:
                        template["spec"].pop("storageClassName", None)
                    for container in containers_of(obj):
                        container.pop("image", None)
                result[(obj["kind"], obj["metadata"]["name"])] = obj
            return result
        self.assertEqual(normalized(overlay), normalized(base))
        if namespace:
            self.assertTrue(all(o["metadata"].get("namespace") == namespace
                                for o in overlay if o["kind"] != "Namespace"))
            only(overlay, "Namespace", namespace)


class ManifestConsistencyTest(unittest.TestCase):
    """The manifests against each other, the Dockerfile and the binaries."""

    def test_env_var_names_are_etagd_flags(self):
        valid = {env_name(f) for f in Facts.etagd_flags()}
        container = Facts.container()
        names = {"configmap:" + k: k for k in Facts.config()}
        names.update({"env:" + e["name"]: e["name"] for e in container.get("env", [])})
        runtime = Facts.stages()[-1]
        names.update({"Dockerfile ENV:" + k: k for k in dockerfile_env(runtime)})
        self.assertTrue(names)
        for where, name in names.items():
            self.assertIn(name, valid, "%s is not ETAGD_<a flag of etagd>; "
                          "etagd's flags are %s" % (where, sorted(valid)))

    def test_configmap_values_are_accepted_by_etagd(self):
        config = Facts.config()
        with tempfile.TemporaryDirectory(dir=os.environ.get("TEST_TMPDIR")) as d:
            # Addresses and directories are overridden on the command line;
            # every other value is parsed as the pod would parse it.
            etagd, _, _ = start_etagd(d, config)
            self.assertEqual(etagd.stop(), 0, etagd.stderr_text())
            self.assertNotIn("level=error", etagd.stderr_text())

    def test_container_ports_match_listen_addresses(self):
        config = Facts.config()
        ports = Facts.container_ports()
        self.assertEqual(set(ports), {"grpc", "http"})
        runtime_env = dockerfile_env(Facts.stages()[-1])
        for name, variable in (("grpc", "ETAGD_GRPC_LISTEN"),
                               ("http", "ETAGD_HTTP_LISTEN")):
            for source, address in (("configmap", config.get(variable)),
                                    ("Dockerfile", runtime_env.get(variable))):
                self.assertIsNotNone(address, "%s sets no %s" % (source, variable))
                host, port = listen_port(address)
                self.assertEqual(host, "0.0.0.0",
                                 "%s %s: probes and Services reach the pod IP"
                                 % (source, variable))
                self.assertEqual(port, ports[name], "%s %s" % (source, variable))
        self.assertEqual(ports, {"grpc": 7070, "http": 8080})

    def test_services_route_grpc_and_http_to_the_pods(self):
        pod_labels = Facts.statefulset()["spec"]["template"]["metadata"]["labels"]
        services = [o for o in Facts.base() if o["kind"] == "Service"]
        self.assertEqual(len(services), 2)
        for service in services:
            selector = service["spec"]["selector"]
            self.assertTrue(selector)
            self.assertTrue(all(pod_labels.get(k) == v for k, v in selector.items()),
                            "%s selects %s, pods have %s"
                            % (service["metadata"]["name"], selector, pod_labels))
            by_name = {p["name"]: p for p in service["spec"]["ports"]}
            self.assertEqual(set(by_name), {"grpc", "http"})
            self.assertEqual(by_name["grpc"]["port"], 7070)
            self.assertEqual(by_name["http"]["port"], 8080)
            for name, port in by_name.items():
                self.assertEqual(resolve_port(port.get("targetPort", port["port"])),
                                 Facts.container_ports()[name])
        headless = only(Facts.base(), "Service",
                        Facts.statefulset()["spec"]["serviceName"])
        self.assertEqual(headless["spec"].get("clusterIP"), "None")

    def test_grpc_probe_names_the_api_service_on_the_grpc_port(self):
        with open(API_PROTO, encoding="utf-8") as f:
            proto = f.read()
        package = re.search(r"^package ([\w.]+);", proto, re.M).group(1)
        self.assertIn("service Resources ", proto)
        grpc_probes = [p["grpc"] for p in self._probes().values() if "grpc" in p]
        self.assertTrue(grpc_probes, "no native gRPC probe")
        for probe in grpc_probes:
            self.assertEqual(probe["port"], Facts.container_ports()["grpc"])
            self.assertEqual(probe.get("service"), package + ".Resources")

    def test_http_probes_use_health_paths_on_the_http_port(self):
        http_probes = {kind: p["httpGet"] for kind, p in self._probes().items()
                       if "httpGet" in p}
        paths = {p["path"] for p in http_probes.values()}
        self.assertEqual(paths, {"/healthz", "/readyz"})
        for probe in http_probes.values():
            self.assertEqual(resolve_port(probe["port"]),
                             Facts.container_ports()["http"])
        self.assertIn("readinessProbe", self._probes())
        self.assertIn("livenessProbe", self._probes())

    @staticmethod
    def _probes():
        container = Facts.container()
        return {k: container[k] for k in
                ("startupProbe", "readinessProbe", "livenessProbe") if k in container}

    def test_writable_paths_are_on_the_data_volume(self):
        config = Facts.config()
        container = Facts.container()
        claims = {t["metadata"]["name"]
                  for t in Facts.statefulset()["spec"]["volumeClaimTemplates"]}
        writable_mounts = [m["mountPath"] for m in container["volumeMounts"]
                           if m["name"] in claims and not m.get("readOnly")]
        self.assertEqual(len(writable_mounts), 1, container["volumeMounts"])
        mount = writable_mounts[0]
        runtime = Facts.stages()[-1]
        volumes = [v for a in instructions(runtime, "VOLUME") for v in json_or_words(a)]
        self.assertEqual(volumes, [mount])
        runtime_env = dockerfile_env(runtime)
        for variable in ("ETAGD_DATA_DIR", "ETAGD_CHECKPOINT_DIR"):
            for source, path in (("configmap", config.get(variable)),
                                 ("Dockerfile", runtime_env.get(variable))):
                self.assertIsNotNone(path, "%s sets no %s" % (source, variable))
                self.assertTrue(os.path.isabs(path), path)
                self.assertTrue(os.path.normpath(path).startswith(mount + "/"),
                                "%s %s=%s is outside the volume at %s; the root "
                                "file system is read-only"
                                % (source, variable, path, mount))
        # Every other mount is read-only.
        for m in container["volumeMounts"]:
            if m["mountPath"] != mount:
                self.assertTrue(m.get("readOnly"), m)

    def test_secret_references_are_optional(self):
        container = Facts.container()
        refs = [s["secretRef"] for s in container.get("envFrom", []) if "secretRef" in s]
        refs += [v["secret"] for v in Facts.pod_spec().get("volumes", []) if "secret" in v]
        self.assertTrue(refs, "no Secret reference")
        for ref in refs:
            self.assertIs(ref.get("optional"), True, ref)

    def test_security_context_is_locked_down(self):
        pod = Facts.pod_spec()["securityContext"]
        container = Facts.container()["securityContext"]
        self.assertIs(pod.get("runAsNonRoot"), True)
        self.assertIs(container.get("readOnlyRootFilesystem"), True)
        self.assertIs(container.get("allowPrivilegeEscalation"), False)
        self.assertEqual(container.get("capabilities", {}).get("drop"), ["ALL"])
        self.assertFalse(container.get("capabilities", {}).get("add"))
        self.assertNotIn("privileged", [k for k, v in container.items() if v is True])
        for context in (pod, container):
            if "seccompProfile" in context:
                self.assertEqual(context["seccompProfile"]["type"], "RuntimeDefault")
        self.assertEqual(pod.get("seccompProfile", {}).get("type"), "RuntimeDefault")
        for key in ("runAsUser", "runAsGroup"):
            self.assertGreater(pod[key], 0)
            self.assertEqual(container.get(key, pod[key]), pod[key])
        self.assertEqual(pod["fsGroup"], pod["runAsGroup"])

    def test_user_matches_the_dockerfile(self):
        users = instructions(Facts.stages()[-1], "USER")
        self.assertEqual(len(users), 1, users)
        uid, _, gid = users[0].partition(":")
        self.assertTrue(uid.isdigit() and gid.isdigit(),
                        "USER must be numeric uid:gid for runAsNonRoot: %s" % users[0])
        pod = Facts.pod_spec()["securityContext"]
        self.assertEqual((pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]),
                         (int(uid), int(gid), int(gid)))

    def test_resources_have_requests_and_limits(self):
        resources = Facts.container()["resources"]
        for kind in ("requests", "limits"):
            self.assertIn("cpu", resources.get(kind, {}), kind)
            self.assertIn("memory", resources.get(kind, {}), kind)

    def test_grace_period_exceeds_drain_timeout(self):
        config = Facts.config()
        drain = parse_duration(config.get(
            "ETAGD_DRAIN_TIMEOUT", default_of(ETAGD, "drain_timeout")))
        grace = Facts.pod_spec()["terminationGracePeriodSeconds"]
        self.assertGreater(grace, drain)
        # Room for closing RocksDB after the drain.
        self.assertGreaterEqual(grace - drain, 5)

    def test_service_links_are_disabled(self):
        # Kubernetes names Service link variables <SERVICE>_SERVICE_HOST,
        # <SERVICE>_PORT..., i.e. ETAGD_* for the Service "etagd", the prefix
        # that etagd takes flags from.
        self.assertIs(Facts.pod_spec().get("enableServiceLinks"), False)

    def test_disruption_budget_selects_the_pods(self):
        pdb = only(Facts.base(), "PodDisruptionBudget")
        pod_labels = Facts.statefulset()["spec"]["template"]["metadata"]["labels"]
        selector = pdb["spec"]["selector"]["matchLabels"]
        self.assertTrue(all(pod_labels.get(k) == v for k, v in selector.items()))
        self.assertEqual(selector, Facts.statefulset()["spec"]["selector"]["matchLabels"])
        self.assertTrue("maxUnavailable" in pdb["spec"] or "minAvailable" in pdb["spec"])

    def test_prometheus_annotations_name_the_metrics_endpoint(self):
        annotations = Facts.statefulset()["spec"]["template"]["metadata"]["annotations"]
        self.assertEqual(annotations.get("prometheus.io/scrape"), "true")
        self.assertEqual(int(annotations["prometheus.io/port"]),
                         Facts.container_ports()["http"])
        self.assertEqual(annotations.get("prometheus.io/path"), "/metrics")


class LiveEtagdTest(unittest.TestCase):
    """The probe and scrape targets of the manifests, asked of a real etagd."""

    @classmethod
    def setUpClass(cls):
        cls._dir = tempfile.TemporaryDirectory(  # pylint: disable=consider-using-with
            dir=os.environ.get("TEST_TMPDIR"))
        cls.etagd, cls.grpc_address, cls.http_port = start_etagd(cls._dir.name)

    @classmethod
    def tearDownClass(cls):
        code = cls.etagd.stop()
        cls._dir.cleanup()
        if code != 0:
            raise AssertionError("etagd exited %d:\n%s" % (code, cls.etagd.stderr_text()))

    def test_http_probe_paths_answer_200(self):
        container = Facts.container()
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = container.get(kind, {}).get("httpGet")
            if probe is None:
                continue
            status, _, body = http_get(self.http_port, probe["path"])
            self.assertEqual(status, 200, "%s %s: %s" % (kind, probe["path"], body))

    def test_unknown_path_is_not_200(self):
        # The probe check above can fail: a path etagd does not serve is 404.
        status, _, _ = http_get(self.http_port, "/no-such-probe")
        self.assertEqual(status, 404)

    def test_metrics_path_serves_prometheus_text(self):
        annotations = Facts.statefulset()["spec"]["template"]["metadata"]["annotations"]
        status, content_type, body = http_get(self.http_port,
                                              annotations["prometheus.io/path"])
        self.assertEqual(status, 200)
        self.assertTrue(content_type.startswith("text/plain"), content_type)
        self.assertRegex(body, r"(?m)^# TYPE \w+ (counter|gauge|histogram)")

    def test_grpc_probe_service_is_serving(self):
        probe = Facts.container()["readinessProbe"]["grpc"]
        result = subprocess.run([HEALTH_CHECK, self.grpc_address, probe["service"]],
                                capture_output=True, text=True,
                                timeout=TIMEOUT_SECONDS, check=False)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(result.stdout.strip(), "SERVING")

    def test_grpc_probe_of_unknown_service_fails(self):
        # The check above can fail: etagd answers NOT_FOUND for other names.
        result = subprocess.run([HEALTH_CHECK, self.grpc_address, "no.such.Service"],
                                capture_output=True, text=True,
                                timeout=TIMEOUT_SECONDS, check=False)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)


class DockerfileTest(unittest.TestCase):
    """deploy/Dockerfile: stages, packages, entrypoint, user."""

    def test_stages_are_bookworm_build_and_bookworm_slim_runtime(self):
        stages = Facts.stages()
        self.assertEqual(len(stages), 2)
        self.assertEqual(stages[0]["image"], "debian:bookworm")
        self.assertTrue(stages[0]["name"])
        self.assertEqual(stages[-1]["image"], "debian:bookworm-slim")

    def test_build_stage_installs_ci_packages_and_builds_opt(self):
        build = Facts.stages()[0]
        runs = instructions(build, "RUN")
        install = [i for i, r in enumerate(runs) if re.search(r"(^|[\s/])\.ci/install\b", r)]
        bazel = [i for i, r in enumerate(runs) if "bazel build" in r]
        self.assertTrue(install, "the build stage does not run .ci/install")
        self.assertEqual(len(bazel), 1, runs)
        self.assertLess(install[0], bazel[0])
        command = runs[bazel[0]]
        self.assertRegex(command, r"bazel build (.* )?-c opt ")
        for label, _ in BINARIES.items():
            self.assertIn(label, command)
            package, _, name = label[2:].partition(":")
            self.assertIn("bazel-bin/%s/%s " % (package, name), command)

    def test_runtime_copies_the_three_binaries_into_usr_local_bin(self):
        build_name = Facts.stages()[0]["name"]
        copies = [c for c in instructions(Facts.stages()[-1], "COPY")
                  if c.startswith("--from=%s " % build_name)]
        self.assertEqual(len(copies), 1, copies)
        words = copies[0].split()[1:]
        self.assertEqual(words[-1].rstrip("/"), "/usr/local/bin")
        self.assertEqual(sorted(os.path.basename(w) for w in words[:-1]),
                         sorted(label.partition(":")[2] for label in BINARIES))

    def _required_packages(self):
        def compute():
            libraries = {}
            for label, binary in BINARIES.items():
                for library in shared_libraries(binary):
                    libraries.setdefault(library, []).append(label)
            owners = owning_packages(list(libraries))
            return {path: (owners[path], labels) for path, labels in libraries.items()}
        return Facts.get("required_packages", compute)

    def test_runtime_installs_a_package_for_every_shared_library(self):
        installed = set(apt_installed(Facts.stages()[-1]))
        required = self._required_packages()
        self.assertGreater(len(required), 10)
        missing = {"%s (%s, needed by %s)" % (package, path, ", ".join(labels))
                   for path, (package, labels) in required.items()
                   if package not in installed}
        self.assertFalse(missing, "the runtime stage does not install:\n" +
                         "\n".join(sorted(missing)))

    def test_runtime_installs_only_library_packages(self):
        installed = set(apt_installed(Facts.stages()[-1]))
        self.assertTrue(installed)
        needed = {package for package, _ in self._required_packages().values()}
        self.assertFalse(installed - needed,
                         "packages no binary loads a library from")
        for run in instructions(Facts.stages()[-1], "RUN"):
            if "apt-get install" in run:
                self.assertIn("--no-install-recommends", run)
                self.assertIn("rm -rf /var/lib/apt/lists", run)

    def test_entrypoint_is_exec_form_etagd(self):
        entrypoints = instructions(Facts.stages()[-1], "ENTRYPOINT")
        self.assertEqual(len(entrypoints), 1)
        self.assertTrue(entrypoints[0].startswith("["), "not exec form")
        self.assertEqual(json.loads(entrypoints[0]), ["/usr/local/bin/etagd"])
        self.assertFalse(instructions(Facts.stages()[-1], "CMD"))

    def test_user_is_non_root(self):
        users = instructions(Facts.stages()[-1], "USER")
        self.assertEqual(len(users), 1)
        uid, _, gid = users[0].partition(":")
        self.assertTrue(uid.isdigit() and int(uid) > 0, users[0])
        self.assertTrue(gid.isdigit() and int(gid) > 0, users[0])
        # The user exists in the image and owns the volume.
        runs = " ".join(instructions(Facts.stages()[-1], "RUN"))
        self.assertIn("--uid %s" % uid, runs)
        self.assertIn("--gid %s" % gid, runs)
        volume = json_or_words(instructions(Facts.stages()[-1], "VOLUME")[0])[0]
        self.assertRegex(runs, r"install -d -o %s -g %s .*%s" % (uid, gid, re.escape(volume)))

    def test_env_expose_and_stop_signal(self):
        runtime = Facts.stages()[-1]
        self.assertEqual(dockerfile_env(runtime), {
            "ETAGD_GRPC_LISTEN": "0.0.0.0:7070",
            "ETAGD_HTTP_LISTEN": "0.0.0.0:8080",
            "ETAGD_DATA_DIR": "/var/lib/etagd/data",
            "ETAGD_CHECKPOINT_DIR": "/var/lib/etagd/checkpoints",
        })
        exposed = sorted(int(p.split("/")[0]) for a in instructions(runtime, "EXPOSE")
                         for p in a.split())
        self.assertEqual(exposed, sorted(Facts.container_ports().values()))
        self.assertEqual(instructions(runtime, "STOPSIGNAL"), ["SIGTERM"])


class SecureOverlayTest(unittest.TestCase):
    """overlays/secure: TLS, mutual TLS and tokens from the mounted Secrets."""

    SETTINGS = ("ETAGD_TLS_CERT_FILE", "ETAGD_TLS_KEY_FILE",
                "ETAGD_TLS_CLIENT_CA_FILE", "ETAGD_TOKENS_FILE")

    @classmethod
    def setUpClass(cls):
        cls.objects = render(SECURE_OVERLAY)
        statefulset = only(cls.objects, "StatefulSet")
        cls.pod = statefulset["spec"]["template"]["spec"]
        cls.container = [c for c in containers_of(statefulset)
                         if c["name"] == "etagd"][0]
        cls.config = only(cls.objects, "ConfigMap", "etagd-config")["data"]

    def test_settings_are_etagd_flags(self):
        valid = {env_name(f) for f in Facts.etagd_flags()}
        self.assertFalse(set(self.config) - valid)
        for variable in self.SETTINGS:
            self.assertIn(variable, self.config)

    def test_files_come_from_whole_secret_mounts(self):
        secrets = {v["name"] for v in self.pod["volumes"] if "secret" in v}
        for variable in self.SETTINGS:
            path = self.config[variable]
            owners = [m for m in self.container["volumeMounts"]
                      if m["name"] in secrets and
                      path.startswith(m["mountPath"].rstrip("/") + "/")]
            self.assertEqual(len(owners), 1, "%s=%s is in no Secret mount"
                             % (variable, path))
            self.assertTrue(owners[0].get("readOnly"), owners[0])
            # A subPath mount never sees a changed Secret: the tokens file
            # and the certificates could not be rotated without a restart.
            self.assertNotIn("subPath", owners[0])

    def test_probes_use_https_and_no_native_grpc_probe(self):
        for name in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = self.container[name]
            # The kubelet's gRPC probe cannot speak TLS.
            self.assertNotIn("grpc", probe, name)
            self.assertEqual(probe["httpGet"]["scheme"], "HTTPS", name)
            self.assertIn(probe["httpGet"]["path"], ("/healthz", "/readyz"), name)

    def test_only_security_settings_differ_from_the_base(self):
        def strip(objects):
            result = {}
            for obj in copy.deepcopy(objects):
                if obj["kind"] == "ConfigMap":
                    for variable in self.SETTINGS:
                        obj["data"].pop(variable, None)
                if obj["kind"] == "StatefulSet":
                    template = obj["spec"]["template"]
                    template["metadata"]["annotations"].pop("prometheus.io/scheme", None)
                    for container in template["spec"]["containers"]:
                        for probe in ("startupProbe", "readinessProbe",
                                      "livenessProbe"):
                            container.pop(probe, None)
                    for volume in template["spec"]["volumes"]:
                        volume.get("secret", {}).pop("optional", None)
                result[(obj["kind"], obj["metadata"]["name"])] = obj
            return result
        self.assertEqual(strip(self.objects), strip(Facts.base()))


class EtcdOverlayTest(unittest.TestCase):
    """overlays/etcd: stateless replicas of one store over an etcd cluster."""

    FILE_SETTINGS = ("ETAGD_ETCD_CA_FILE", "ETAGD_ETCD_CERT_FILE",
                     "ETAGD_ETCD_KEY_FILE", "ETAGD_ETCD_PASSWORD_FILE")

    @classmethod
    def setUpClass(cls):
        cls.objects = render(ETCD_OVERLAY)
        cls.deployment = only(cls.objects, "Deployment", "etagd")
        cls.pod = cls.deployment["spec"]["template"]["spec"]
        cls.container = [c for c in containers_of(cls.deployment)
                         if c["name"] == "etagd"][0]
        cls.config = only(cls.objects, "ConfigMap", "etagd-config")["data"]

    def test_objects_are_a_deployment_service_budget_and_config(self):
        kinds = sorted((o["kind"], o["metadata"]["name"]) for o in self.objects)
        self.assertEqual(kinds, sorted([
            ("ConfigMap", "etagd-config"), ("Deployment", "etagd"),
            ("PodDisruptionBudget", "etagd"), ("Service", "etagd")]))

    def test_three_replicas_without_any_volume_of_their_own(self):
        self.assertEqual(self.deployment["spec"]["replicas"], 3)
        for volume in self.pod["volumes"]:
            self.assertEqual(set(volume) - {"name"}, {"secret"}, volume)
        self.assertNotIn("volumeClaimTemplates", self.deployment["spec"])
        self.assertTrue(self.container["securityContext"]["readOnlyRootFilesystem"])

    def test_settings_are_etagd_flags_for_the_etcd_engine(self):
        valid = {env_name(f) for f in Facts.etagd_flags()}
        self.assertFalse(set(self.config) - valid)
        self.assertEqual(self.config["ETAGD_ENGINE"], "etcd")
        self.assertTrue(self.config["ETAGD_ETCD_ENDPOINTS"])
        for rocksdb_only in ("ETAGD_DATA_DIR", "ETAGD_CHECKPOINT_DIR",
                             "ETAGD_SYNC_WRITES", "ETAGD_QUOTA_BYTES",
                             "ETAGD_BLOCK_CACHE_MB"):
            self.assertNotIn(rocksdb_only, self.config)
        # A content limit over what one etcd request carries stops etagd.
        self.assertNotIn("ETAGD_MAX_CONTENT_BYTES", self.config)

    def test_etcd_credentials_come_from_a_whole_secret_mount(self):
        secrets = {v["name"]: v["secret"] for v in self.pod["volumes"]}
        for variable in self.FILE_SETTINGS:
            path = self.config[variable]
            owners = [m for m in self.container["volumeMounts"]
                      if m["name"] in secrets and
                      path.startswith(m["mountPath"].rstrip("/") + "/")]
            self.assertEqual(len(owners), 1, "%s=%s is in no Secret mount"
                             % (variable, path))
            self.assertTrue(owners[0].get("readOnly"), owners[0])
            self.assertNotIn("subPath", owners[0])
            self.assertEqual(secrets[owners[0]["name"]]["secretName"], "etagd-etcd")
            self.assertIs(secrets[owners[0]["name"]]["optional"], False)

    def test_readiness_follows_etcd_and_liveness_does_not(self):
        readiness = self.container["readinessProbe"]
        self.assertEqual(readiness["grpc"]["service"], "etagd.v1.Resources")
        # An etcd outage turns readiness off; restarting pods would not help.
        self.assertEqual(self.container["livenessProbe"]["httpGet"]["path"], "/healthz")

    def test_disruption_budget_keeps_two_of_three(self):
        pdb = only(self.objects, "PodDisruptionBudget")
        labels = self.deployment["spec"]["template"]["metadata"]["labels"]
        selector = pdb["spec"]["selector"]["matchLabels"]
        self.assertTrue(all(labels.get(k) == v for k, v in selector.items()))
        self.assertEqual(pdb["spec"].get("maxUnavailable"), 1)
        rolling = self.deployment["spec"]["strategy"]["rollingUpdate"]
        self.assertEqual(rolling["maxUnavailable"], 0)

    def test_service_routes_to_the_deployments_pods(self):
        service = only(self.objects, "Service", "etagd")
        labels = self.deployment["spec"]["template"]["metadata"]["labels"]
        self.assertTrue(all(labels.get(k) == v
                            for k, v in service["spec"]["selector"].items()))

    def test_grace_period_exceeds_drain_timeout(self):
        drain = parse_duration(self.config["ETAGD_DRAIN_TIMEOUT"])
        self.assertGreater(self.pod["terminationGracePeriodSeconds"], drain)
        self.assertIs(self.pod.get("enableServiceLinks"), False)


@unittest.skipUnless(shutil.which("kubectl"), "kubectl is not installed")
class KubectlKustomizeTest(unittest.TestCase):
    """`kubectl kustomize` renders every overlay into what render() says."""

    def test_every_overlay_renders(self):
        overlays = sorted(glob.glob(os.path.join(K8S, "overlays", "*")))
        self.assertGreaterEqual(len(overlays), 3, overlays)
        env = dict(os.environ, HOME=os.environ.get("TEST_TMPDIR", tempfile.gettempdir()))
        # kustomize does not follow the runfiles' symlinks: a real copy.
        copy_root = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        copied = os.path.join(copy_root, "k8s")
        shutil.copytree(K8S, copied)
        self.addCleanup(shutil.rmtree, copy_root, True)
        for overlay in [BASE] + overlays:
            result = subprocess.run(["kubectl", "kustomize",
                                     os.path.join(copied, os.path.relpath(overlay, K8S))],
                                    stdin=subprocess.DEVNULL, capture_output=True,
                                    text=True, env=env, timeout=120)
            self.assertEqual(result.returncode, 0, "%s: %s" % (overlay, result.stderr))
            rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
            ours = render(overlay)
            key = lambda o: (o["kind"], o["metadata"]["name"],
                             o["metadata"].get("namespace"))
            self.assertEqual(sorted(map(key, rendered)), sorted(map(key, ours)),
                             overlay)
            for obj in rendered:
                mine = [o for o in ours if key(o) == key(obj)][0]
                self.assertEqual(obj.get("spec"), mine.get("spec"),
                                 "%s: %s differs" % (overlay, key(obj)))
                self.assertEqual(obj.get("data"), mine.get("data"),
                                 "%s: %s differs" % (overlay, key(obj)))


class ReadmeTest(unittest.TestCase):
    """deploy/README.md covers configuration and operations."""

    @classmethod
    def setUpClass(cls):
        with open(README, encoding="utf-8") as f:
            cls.text = f.read()

    def test_documents_every_flag_as_an_environment_variable(self):
        missing = [env_name(f) for f in sorted(Facts.etagd_flags())
                   if env_name(f) not in self.text]
        self.assertFalse(missing, "deploy/README.md does not mention these")

    def test_mentions_only_real_variables(self):
        valid = {env_name(f) for f in Facts.etagd_flags() |
                 flags_of(BINARIES["//client:etagctl"]) |
                 flags_of(BINARIES["//gateway:etagd-gateway"])}
        mentioned = set(re.findall(r"\bETAGD_[A-Z0-9_]*[A-Z0-9]", self.text))
        self.assertFalse(mentioned - valid)

    def test_covers_build_deploy_backup_and_restore(self):
        for phrase in ("docker build", "kubectl apply -k", "etagctl checkpoint",
                       "kubectl cp", "terminationGracePeriodSeconds",
                       "PodDisruptionBudget", "does not replicate"):
            self.assertIn(phrase, self.text)


if __name__ == "__main__":
    junit_result.main(__name__, "deploy_static_test")
