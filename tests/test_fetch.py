"""`dialogd models fetch` against a local HTTP server: resume, checksums, fallback."""

from __future__ import annotations

import hashlib
import http.server
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest

from daemon.tools.fetch import CATALOG, FetchError, ModelFile, download, fetch_llm
from tests.conftest import DIALOGD, ROOT


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves one blob with Range support; can cut the first transfer off midway."""

    blob = b""
    cut_first_at: int | None = None
    requests: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        rng = self.headers.get("Range")
        type(self).requests.append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = self.blob[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = type(self).cut_first_at
        if cut is not None:
            type(self).cut_first_at = None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(2)  # the network drops mid-download
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("H", (_Handler,), {"requests": []})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", handler
    srv.shutdown()
    srv.server_close()


def _model(blob: bytes, url: str) -> ModelFile:
    return ModelFile("t", "tiny.gguf", url, hashlib.sha256(blob).hexdigest(), len(blob))


def test_download_resumes_after_a_dropped_connection(
    server: tuple[str, type[_Handler]], tmp_path: Path
) -> None:
    base, handler = server
    handler.blob = b"GGUF" + bytes(range(256)) * 4000
    handler.cut_first_at = 300_000
    model = _model(handler.blob, f"{base}/tiny.gguf")
    with pytest.raises(FetchError):
        download(model, tmp_path)  # the first attempt fails mid-way...
    part = tmp_path / "tiny.gguf.part"
    assert 0 < part.stat().st_size < len(handler.blob)
    path = download(model, tmp_path)  # ...the second resumes where it stopped
    assert path.read_bytes() == handler.blob
    assert handler.requests[-1] == f"bytes={part.stat().st_size if part.exists() else 300_000}-"
    assert not part.exists()
    assert download(model, tmp_path) == path  # already verified: nothing fetched
    assert len(handler.requests) == 2


def test_checksum_mismatch_is_rejected(server: tuple[str, type[_Handler]], tmp_path: Path) -> None:
    base, handler = server
    handler.blob = b"GGUF" + b"\0" * 1000
    model = replace(_model(handler.blob, f"{base}/tiny.gguf"), sha256="0" * 64)
    with pytest.raises(FetchError, match="sha256"):
        download(model, tmp_path)
    assert not (tmp_path / "tiny.gguf").exists()


def test_official_model_via_a_mirror(server: tuple[str, type[_Handler]], tmp_path: Path) -> None:
    """The real catalog entry, served by a local mirror: a wrong file is refused."""
    base, handler = server
    handler.blob = b"GGUF not really qwen"
    with pytest.raises(FetchError, match=r"sha256|bytes"):
        fetch_llm(tmp_path, mirror=base, allow_standin=False)
    assert not (tmp_path / "qwen2.5-0.5b-instruct-q4_k_m.gguf").exists()


def test_unreachable_hub_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="cannot download"):
        fetch_llm(tmp_path, mirror="http://127.0.0.1:9", allow_standin=False)


def _vosk_zip(folder: str) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"{folder}/am/final.mdl", b"\0" * 5000)
        z.writestr(f"{folder}/conf/model.conf", b"--min-active=200\n")
    return buf.getvalue()


def test_vosk_zip_is_verified_and_unpacked(
    server: tuple[str, type[_Handler]], tmp_path: Path
) -> None:
    base, handler = server
    handler.blob = _vosk_zip("vosk-model-small-en-us-0.15")
    pinned = CATALOG["vosk-en"]
    model = replace(pinned, sha256=hashlib.sha256(handler.blob).hexdigest(), size=len(handler.blob))
    folder = download(model, tmp_path, f"{base}/{pinned.filename}")
    assert (folder / "am" / "final.mdl").is_file()
    assert not (tmp_path / pinned.filename).exists(), "the zip is removed once unpacked"
    assert download(model, tmp_path, f"{base}/{pinned.filename}") == folder
    assert len(handler.requests) == 1, "a verified folder is not fetched again"


def test_model_without_pinned_checksum_needs_one(
    server: tuple[str, type[_Handler]], tmp_path: Path
) -> None:
    base, handler = server
    handler.blob = _vosk_zip("vosk-model-small-cn-0.22")
    cli = [*DIALOGD, "models", "fetch", "vosk-cn", "--dir", str(tmp_path), "--mirror", base]
    refused = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "--sha256" in refused.stderr
    digest = hashlib.sha256(handler.blob).hexdigest()
    ok = subprocess.run(
        [*cli, "--sha256", digest], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "vosk-model-small-cn-0.22" / "conf" / "model.conf").is_file()
    wrong = subprocess.run(
        [*cli, "--sha256", "0" * 64, "--dir", str(tmp_path / "x")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 1 and "sha256" in wrong.stderr
