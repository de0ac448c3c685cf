"""Publishing a clip store (issue 19, data half): no absolute local path in anything a push sends, old stores
refused by the push and rewritten by a command or a rerun, and both store forms loading without vito_hf into the
same typed rows through the card's own snippets."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from curation_helpers import clip, read_jsonl, tiny_classifier, write_jsonl
from huggingface_hub import DatasetCard

from vito_hf import clip_store
from vito_hf.curation import CurationSettings, curate, taxonomy_from_records
from vito_hf.curation.report import PLACEHOLDER_SOURCE, rewrite_card
from vito_hf.data import build_clip_dataset
from vito_hf.published_paths import files_with_absolute_paths

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY / "training_scripts"))
sys.path.insert(0, str(REPOSITORY / "dataset_scripts"))
from convert_to_webdataset import main as convert  # noqa: E402
from curate_videonet import main as curate_cli  # noqa: E402
from push_to_hub import main as push  # noqa: E402

TAXONOMY = taxonomy_from_records([{"id": "bike", "name": "mountain bike"}, {"id": "car", "name": "car"}])


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """Real clips curated from a manifest of absolute paths deep in a temporary folder (one missing file, whose
    error names its path), the classifier a local folder: every way a local path used to get published."""
    deep = tmp_path_factory.mktemp("private") / "home" / "someone" / "videos" / "2024"
    deep.mkdir(parents=True)
    for name in ("ride.mp4", "race.mp4"):
        shutil.copy(clip("bikes.mp4"), deep / name)
    rows = [{"path": str(deep / "ride.mp4"), "title": "mountain bike ride"},
            {"path": str(deep / "race.mp4"), "title": "mountain bike race"},
            {"path": str(deep / "gone.mp4"), "title": "mountain bike lost"}]
    manifest = write_jsonl(deep.parent / "manifest.jsonl", rows)
    classifier = tiny_classifier(deep / "classifier", ["mountain bike", "car"], top1=0)
    store = deep / "store"
    settings = CurationSettings(taxonomy=TAXONOMY, classifier=classifier, num_frames=4, min_duration=5.0,
                                clip_duration=1.0, short_side=48, progress=False)
    curate(manifest, store, settings)
    shards = deep / "store-wds"
    convert(["--store", str(store), "--output_dir", str(shards), "--shard_clips", "1"])
    return deep, manifest, store, shards, settings


def listing(capsys, folder) -> tuple[int, list[str], str]:
    try:
        status = push(["dataset", str(folder), "--repo-id", "someone/clips", "--dry-run"])
    except SystemExit as exit:
        status = exit.code
    captured = capsys.readouterr()
    return status, captured.out.split(), captured.err


def published_bytes(folder: Path, names: list[str]):
    """(name, bytes) of every file a push sends, and of every member of its tars."""
    for name in names:
        yield name, (folder / name).read_bytes()
        if name.endswith(".tar"):
            with tarfile.open(folder / name) as tar:
                for member in tar:
                    yield f"{name}:{member.name}", tar.extractfile(member).read()


@pytest.mark.parametrize("form", ["store", "shards"])
def test_nothing_a_push_sends_holds_a_local_path(curated, capsys, form):
    deep, _, store, shards, _ = curated
    folder = store if form == "store" else shards
    status, names, err = listing(capsys, folder)
    assert status == 0, err
    assert "metadata.jsonl" in names and "report/report.json" in names
    private = [str(deep.parents[3]).encode(), str(Path.home()).encode() + b"/"]
    for name, data in published_bytes(folder, names):
        assert not any(path in data for path in private), name
    assert files_with_absolute_paths(folder, names) == {}
    rows = read_jsonl(folder / "metadata.jsonl")
    assert sorted(row["source"] for row in rows) == ["2024/race.mp4", "2024/ride.mp4"]  # relative to the manifest
    rejected = read_jsonl(folder / "report" / "rejected.jsonl")
    assert [(r["source"], r["stage"]) for r in rejected] == [("2024/gone.mp4", "probe")]
    assert "2024/gone.mp4" in rejected[0]["reason"]  # the error names the file by its published source
    report = json.loads((folder / "report" / "report.json").read_text())
    assert report["settings"]["classifier"] == "classifier"


def make_old_style(store: Path, deep: Path) -> None:
    """What earlier versions wrote: absolute sources in the metadata (and the shards packed from it), the
    classifier's folder in the report, the missing file's path in its rejection."""
    rows = read_jsonl(store / "metadata.jsonl")
    write_jsonl(store / "metadata.jsonl", [{**row, "source": str(deep / Path(row["source"]).name)} for row in rows])
    report = json.loads((store / "report" / "report.json").read_text())
    report["settings"]["classifier"] = str(deep / "classifier")
    (store / "report" / "report.json").write_text(json.dumps(report))
    rejected = read_jsonl(store / "report" / "rejected.jsonl")
    write_jsonl(store / "report" / "rejected.jsonl",
                [{**r, "source": str(deep / "gone.mp4"), "reason": f"{deep / 'gone.mp4'}: no such file"} for r in rejected])


def test_an_old_store_is_refused_by_the_push_then_fixed_by_the_command(curated, tmp_path, capsys):
    deep, _, store, _, _ = curated
    old = tmp_path / "old"
    shutil.copytree(store, old)
    make_old_style(old, deep)
    convert(["--store", str(old), "--shard_clips", "1"])  # packed in place: the tars' json members too
    capsys.readouterr()
    status, names, err = listing(capsys, old)
    assert status == 2 and names == []
    for name in ("metadata.jsonl", "report/report.json", "report/rejected.jsonl", "webdataset/clips-000000.tar:"):
        assert name in err, err
    assert "relativize" in err
    summary = curate_cli(["relativize", "--output_dir", str(old)])
    assert summary["root"] == str(deep)
    capsys.readouterr()
    status, names, err = listing(capsys, old)
    assert status == 0, err
    assert files_with_absolute_paths(old, names) == {}
    assert sorted(row["source"] for row in read_jsonl(old / "metadata.jsonl")) == ["race.mp4", "ride.mp4"]
    assert read_jsonl(old / "report" / "rejected.jsonl")[0]["reason"] == "gone.mp4: no such file"
    assert sorted(row["source"] for row in build_clip_dataset(old, streaming=True)) == ["race.mp4", "ride.mp4"]


def test_a_rerun_rewrites_an_old_store_without_redoing_a_video(curated, tmp_path):
    deep, manifest, store, _, settings = curated
    old = tmp_path / "old"
    shutil.copytree(store, old)
    for path in (old / "state").rglob("*.json"):
        record = json.loads(path.read_text())
        if "source" not in record:
            continue
        local = str(deep / Path(record["source"]).name)
        record["source"] = local
        if record.get("row"):
            record["row"]["source"] = local
        if record.get("reason"):
            record["reason"] = f"{local}: no such file"
        path.write_text(json.dumps(record))
    make_old_style(old, deep)
    result = curate(manifest, old, settings)
    assert sum(result.executed.values()) == 0 and result.reused == 3
    assert sorted(row["source"] for row in read_jsonl(old / "metadata.jsonl")) == ["2024/race.mp4", "2024/ride.mp4"]
    assert read_jsonl(old / "report" / "rejected.jsonl")[0]["reason"] == "2024/gone.mp4: no such file"
    names = [p.relative_to(old).as_posix() for p in old.rglob("*") if p.is_file()
             and not p.relative_to(old).as_posix().startswith(("state/settings", "shards/"))]
    assert files_with_absolute_paths(old, names) == {}


HARNESS = """
import hashlib, json, os, sys
sys.path = [p for p in sys.path if not os.path.isfile(os.path.join(p, "vito_hf", "__init__.py"))]
try:
    import vito_hf
except ImportError:
    pass
else:
    raise SystemExit("vito_hf is importable; the snippet must run without it")
exec(compile(sys.stdin.read(), "card snippet", "exec"))
rows = []
for row in ds:
    video = row.pop("video")
    data = video["bytes"] if video["bytes"] is not None else open(video["path"], "rb").read()
    rows.append({**row, "video": hashlib.sha256(data).hexdigest()})
print("RESULT " + json.dumps({"features": ds.features.to_dict(), "rows": sorted(rows, key=lambda r: r["video_id"])}))
"""


def run_card_snippet(folder: Path, cache: Path) -> dict:
    """The first Python block of the card's Loading section, run where vito_hf cannot be imported."""
    card = (folder / "README.md").read_text()
    loading = card.split("## Loading", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", loading, re.S).group(1)
    assert "vito_hf" not in snippet and PLACEHOLDER_SOURCE in snippet
    snippet = snippet.replace(PLACEHOLDER_SOURCE, str(folder))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_DATASETS_CACHE=str(cache), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    result = subprocess.run([sys.executable, "-I", "-c", HARNESS], input=snippet, capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))[7:])


def test_both_forms_load_without_vito_hf_into_the_same_typed_rows(curated, tmp_path):
    _, _, store, shards, _ = curated
    loose = run_card_snippet(store, tmp_path / "cache-loose")
    packed = run_card_snippet(shards, tmp_path / "cache-shards")
    assert loose["features"] == packed["features"]
    assert loose["features"]["label"] == {"names": ["mountain bike", "car"], "_type": "ClassLabel"}
    assert list(loose["features"]) == ["video", *[c for c in clip_store.COLUMNS if c != "file_name"]]
    assert loose["rows"] == packed["rows"] and len(loose["rows"]) == 2
    assert {row["label"] for row in loose["rows"]} == {0}
    shard_card = (shards / "README.md").read_text()
    assert "streaming=True" in shard_card and 'load_dataset("videofolder"' not in shard_card
    calls = re.findall(r"build_clip_dataset\(([^)]*)\)", shard_card)
    assert calls and all("streaming=True" in call for call in calls)


def test_the_card_declares_a_licence_the_hub_understands(curated, tmp_path):
    _, manifest, store, _, settings = curated
    card = DatasetCard.load(store / "README.md")
    assert card.data.license == "unknown" and "license_name" not in card.data.to_dict()
    with pytest.raises(ValueError, match="license_name and license_link"):
        CurationSettings(license="other")
    with pytest.raises(SystemExit) as exited:
        curate_cli(["merge", "--output_dir", str(store), "--license", "other"])
    assert exited.value.code == 2
    again = tmp_path / "again"
    shutil.copytree(store, again)
    custom = replace(settings, license="other", license_name="source-terms", license_link="https://example.org/terms")
    curate(manifest, again, custom)
    data = DatasetCard.load(again / "README.md").data
    assert (data.license, data.license_name, data.license_link) == ("other", "source-terms", "https://example.org/terms")


def test_the_pushed_repo_id_is_recorded_and_kept_by_reruns(curated, tmp_path):
    """What a push does once the Hub answered (record the id, render the card for it), then a rerun keeps it."""
    _, manifest, store, shards, settings = curated
    copy, packed = tmp_path / "copy", tmp_path / "packed"
    shutil.copytree(store, copy)
    shutil.copytree(shards, packed)
    for folder, repo in ((copy, "someone/clips"), (packed, "someone/clips-wds")):
        clip_store.record_hub_repo_id(folder, repo)
        rewrite_card(folder)
    assert 'load_dataset("someone/clips-wds", split="train", streaming=True)' in (packed / "README.md").read_text()
    curate(manifest, copy, settings)
    info = json.loads((copy / clip_store.STORE_FILE).read_text())
    assert info == {"format_version": clip_store.FORMAT_VERSION, "hub_repo_id": "someone/clips"}
    assert clip_store.hub_repo_id(copy) == "someone/clips"
    assert 'load_dataset("someone/clips", split="train")' in (copy / "README.md").read_text()


def test_a_failed_push_leaves_no_repo_id_behind(curated, tmp_path):
    """The Hub answers (a local stand-in that refuses every API call): the push fails, the store is unchanged."""
    import http.server
    import threading

    class Refusing(http.server.BaseHTTPRequestHandler):
        def _refuse(self):
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": "Invalid credentials"}')

        do_HEAD = do_GET = do_POST = do_PUT = _refuse

        def log_message(self, *args):
            pass

    _, _, store, _, _ = curated
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    before = {name: (copy / name).read_bytes() for name in (clip_store.STORE_FILE, "README.md")}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    code = (f"import sys; sys.path.insert(0, {str(REPOSITORY / 'training_scripts')!r})\n"
            f"from push_to_hub import main; sys.exit(main(['dataset', {str(copy)!r}, '--repo-id', 'someone/clips']))")
    env = dict(os.environ, HF_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}", HF_HUB_OFFLINE="0",
               HF_TOKEN="hf_not_a_real_token")
    try:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    finally:
        server.shutdown()
    assert result.returncode == 1, result.stderr[-2000:]
    assert "refused" in result.stderr
    assert {name: (copy / name).read_bytes() for name in before} == before
