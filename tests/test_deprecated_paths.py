"""Public names that moved in 0.2 keep working for one release, each with a DeprecationWarning."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vito_hf.curation import CurationSettings, taxonomy_from_records
from vito_hf.curation import curate as new_curate

OLD_PATHS = """
import json, warnings
warnings.simplefilter("always")
seen = {}
def check(name, get):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = get()
    seen[name] = [value, any(issubclass(w.category, DeprecationWarning) for w in caught)]
import vito_hf.curation as new
check("data.curation.state", lambda: __import__("vito_hf.data.curation.state", fromlist=["x"]).temporary_path
      is new.state.temporary_path)
check("data.curation", lambda: __import__("vito_hf.data.curation", fromlist=["curate"]).curate is new.curate)
check("data.clip_export", lambda: __import__("vito_hf.data.clip_export", fromlist=["x"]).encode_clip is new.encode_clip)
import vito_hf.data as data
check("data.encode_clip", lambda: data.encode_clip is new.encode_clip)
check("data.views", lambda: __import__("vito_hf.data.views", fromlist=["x"]).VitoViewTransform is data.VitoViewTransform)
import vito_hf.training as training
check("training.PerExampleSeededDataset", lambda: training.PerExampleSeededDataset is data.PerExampleSeededDataset)
check("training.seeding", lambda: __import__("vito_hf.training.seeding", fromlist=["x"]).PerExampleSeededStream
      is data.PerExampleSeededStream)
print(json.dumps(seen))
"""


def test_old_import_paths_resolve_to_the_new_objects_with_a_warning():
    completed = subprocess.run([sys.executable, "-c", OLD_PATHS], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    # (the package's warning fires once, on the first import through it: here the old `state` submodule's)
    assert seen == {name: [True, name != "data.curation"] for name in seen} and len(seen) == 7


def test_curate_with_the_old_keywords_warns_and_means_the_same(tmp_path):
    from curation_helpers import clip, write_jsonl

    manifest = write_jsonl(tmp_path / "m.jsonl", [{"path": str(clip("carphone_pristine.mp4")), "title": "car"}])
    taxonomy = taxonomy_from_records(["car"])
    with pytest.warns(DeprecationWarning, match="CurationSettings"):
        old = new_curate(manifest, tmp_path / "old", taxonomy=taxonomy, classifier=None, min_duration=1.0,
                         clip_duration=1.0, short_side=48, progress=False)
    settings = CurationSettings(taxonomy=taxonomy, classifier=None, min_duration=1.0, clip_duration=1.0, short_side=48,
                                progress=False)
    new = new_curate(manifest, tmp_path / "new", settings)
    assert old.report["totals"] == new.report["totals"] and old.kept == 1
    assert (tmp_path / "old" / "metadata.jsonl").read_text() == (tmp_path / "new" / "metadata.jsonl").read_text()
    with pytest.raises(TypeError, match="unexpected keyword"):
        new_curate(manifest, tmp_path / "bad", num_framez=3)
