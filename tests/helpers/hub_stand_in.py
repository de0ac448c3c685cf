"""A local stand-in for the few Hugging Face Hub endpoints that `push_to_hub` and `from_pretrained` call, for tests
on machines without the Hub: point `HF_ENDPOINT` at `HubStandIn.endpoint` (in a subprocess, or before
huggingface_hub is imported).

It keeps repos in memory, one commit per push: create a repo, validate a card's YAML, answer which upload mode
each file takes ("regular": the content travels inside the commit, no LFS or Xet storage needed), take the
commit, and serve the files back (repo info, the file listing, file metadata and downloads), so `snapshot_download`, transformers'
`from_pretrained` and `ModelCard.load` work against it. Anything else gets a 404 naming the path, so a client
that starts calling a new endpoint fails loudly instead of silently.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

REPO = r"(?P<repo>[^/]+/[^/]+)"
RESOLVE = re.compile(rf"^/(?:(?P<kind>datasets|spaces)/)?{REPO}/resolve/(?P<revision>[^/]+)/(?P<path>.+)$")
API = re.compile(
    rf"^/api/(?P<kind>models|datasets|spaces)/{REPO}/(?P<action>preupload|commit|revision|tree)/(?P<revision>[^/]+)$"
)


class HubStandIn:
    """The server, in a daemon thread; `repos[repo_id]` maps file paths to bytes; `requests` lists what was asked."""

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.shas: dict[str, str] = {}
        self.requests: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet test output
                pass

            def do_HEAD(self) -> None:
                stand_in._serve_file(self, body=False)

            def do_GET(self) -> None:
                stand_in.requests.append(f"GET {self.path}")
                if self.path.startswith("/api/"):
                    stand_in._api(self, None)
                else:
                    stand_in._serve_file(self, body=True)

            def do_POST(self) -> None:
                stand_in.requests.append(f"POST {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                stand_in._api(self, self.rfile.read(length))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HubStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _reply(handler, status: int, payload=None, headers: dict[str, str] | None = None, body: bytes | None = None,
               send_body: bool = True) -> None:
        data = body if body is not None else json.dumps(payload if payload is not None else {}).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json" if body is None else "application/octet-stream")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        if send_body:
            handler.wfile.write(data)

    def _not_found(self, handler, code: str, send_body: bool = True) -> None:
        self._reply(handler, 404, {"error": f"{code}: {handler.path}"}, headers={"X-Error-Code": code},
                    send_body=send_body)

    def _serve_file(self, handler, body: bool) -> None:
        match = RESOLVE.match(urlparse(handler.path).path)
        repo = match and self.repos.get(match["repo"])
        if repo is None:
            return self._not_found(handler, "RepoNotFound", send_body=body)
        path = unquote(match["path"])
        if path not in repo:
            return self._not_found(handler, "EntryNotFound", send_body=body)
        content = repo[path]
        headers = {"X-Repo-Commit": self.shas[match["repo"]], "ETag": f'"{hashlib.sha256(content).hexdigest()}"'}
        self._reply(handler, 200, headers=headers, body=content, send_body=body)

    def _api(self, handler, data: bytes | None) -> None:
        path = urlparse(handler.path).path
        if path == "/api/repos/create":
            request = json.loads(data)
            repo_id = f"{request['organization']}/{request['name']}"
            self.repos.setdefault(repo_id, {})
            self.shas.setdefault(repo_id, "0" * 40)
            return self._reply(handler, 200, {"url": f"{self.endpoint}/{repo_id}", "name": repo_id})
        if path == "/api/validate-yaml":
            return self._reply(handler, 200, {"errors": [], "warnings": []})
        match = API.match(path)
        if match is None or match["repo"] not in self.repos:
            return self._not_found(handler, "RepoNotFound" if match else "UnknownEndpoint")
        repo_id, action = match["repo"], match["action"]
        if action == "revision":
            siblings = [{"rfilename": name} for name in sorted(self.repos[repo_id])]
            return self._reply(handler, 200, {"id": repo_id, "sha": self.shas[repo_id], "siblings": siblings,
                                              "private": False, "tags": []})
        if action == "tree":  # the whole listing in one page, as snapshot_download asks for it (recursive)
            entries = [{"type": "file", "path": name, "size": len(content), "oid": hashlib.sha1(content).hexdigest()}
                       for name, content in sorted(self.repos[repo_id].items())]
            return self._reply(handler, 200, entries)
        if action == "preupload":
            files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                     for f in json.loads(data)["files"]]
            return self._reply(handler, 200, {"files": files, "commitOid": self.shas[repo_id]})
        files = self.repos[repo_id]
        for line in data.splitlines():
            item = json.loads(line)
            if item["key"] == "file":
                files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            elif item["key"] != "header":
                return self._reply(handler, 400, {"error": f"the stand-in takes regular files only, got {item['key']}"})
        sha = hashlib.sha1(json.dumps(sorted((k, hashlib.sha1(v).hexdigest()) for k, v in files.items())).encode())
        self.shas[repo_id] = sha.hexdigest()
        self._reply(handler, 200, {"commitUrl": f"{self.endpoint}/{repo_id}/commit/{self.shas[repo_id]}",
                                   "commitOid": self.shas[repo_id]})
