#!/usr/bin/env python3
"""A Hugging Face cache written by huggingface_hub itself, for the tests that read one back.

Serves two fixture models on 127.0.0.1 the way the Hub serves files (resolve URLs with
X-Repo-Commit, ETag = git blob SHA-1 for small files, a redirect with X-Linked-Etag = SHA-256 and
X-Linked-Size for the weights, to another host name as the Hub's storage is), then lets `huggingface_hub.hf_hub_download` fetch every file of
them into `Fixtures/hf-cache`, so blobs, refs, snapshots and their relative links are exactly what
Python writes:

    Fixtures/models/vit           as google/vit-base-patch16-224
    Fixtures/models/st-bert-mean  as sentence-transformers/all-MiniLM-L6-v2 (a nested 1_Pooling/)

Run in a virtual environment with huggingface_hub (tested with 2.4.0):
    python Fixtures/gen_hf_cache.py
The commit ids are fixed, so a rerun writes the same tree (lock files in .locks are left out).
"""
import hashlib
import http.server
import os
import shutil
import threading
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent
OUT = FIXTURES / "hf-cache"
MODELS = {
    "google/vit-base-patch16-224": FIXTURES / "models" / "vit",
    "sentence-transformers/all-MiniLM-L6-v2": FIXTURES / "models" / "st-bert-mean",
}
LFS = {"model.safetensors"}


def commit_of(repo):
    return hashlib.sha1(("mmattn fixture " + repo).encode()).hexdigest()


def files_of(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


class Hub(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def route(self):
        """(status, headers, body) for a resolve or storage URL."""
        path = self.path.split("?")[0]
        if path.startswith("/lfs/"):
            repo, name = path[len("/lfs/"):].split("::", 1)
            data = (MODELS[repo] / name).read_bytes()
            return 200, {"Content-Length": str(len(data))}, data
        for repo, folder in MODELS.items():
            prefix = f"/{repo}/resolve/"
            if not path.startswith(prefix):
                continue
            revision, name = path[len(prefix):].split("/", 1)
            if revision not in ("main", commit_of(repo)) or not (folder / name).is_file():
                return 404, {"X-Error-Code": "EntryNotFound"}, b""
            data = (folder / name).read_bytes()
            headers = {"X-Repo-Commit": commit_of(repo)}
            if name in LFS:
                headers.update({"X-Linked-Etag": '"' + hashlib.sha256(data).hexdigest() + '"',
                                "X-Linked-Size": str(len(data)),
                                "Location": f"http://localhost:{self.server.server_port}/lfs/{repo}::{name}",
                                "Content-Length": "0"})
                return 302, headers, b""
            blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            headers.update({"ETag": '"' + blob + '"', "Content-Length": str(len(data))})
            return 200, headers, data
        return 404, {"X-Error-Code": "RepoNotFound"}, b""

    def answer(self, with_body):
        status, headers, body = self.route()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body and status == 200:
            self.wfile.write(body)

    def do_HEAD(self):
        self.answer(False)

    def do_GET(self):
        self.answer(True)


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shutil.rmtree(OUT, ignore_errors=True)
    os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{server.server_port}"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ.pop("HF_HUB_OFFLINE", None)
    import huggingface_hub  # after HF_ENDPOINT is set: it is read at import

    for repo, folder in MODELS.items():
        for name in files_of(folder):
            huggingface_hub.hf_hub_download(repo, name, cache_dir=OUT, token=False)
    server.shutdown()
    shutil.rmtree(OUT / ".locks", ignore_errors=True)
    for p in sorted(OUT.rglob("*")):
        kind = "-> " + os.readlink(p) if p.is_symlink() else ("dir" if p.is_dir() else f"{p.stat().st_size} bytes")
        print(p.relative_to(OUT), kind)
    print("huggingface_hub", huggingface_hub.__version__)


if __name__ == "__main__":
    main()
