"""Temporal samplers are a registry: one new file in `vito_hf/data/samplers/` is enough for
`--temporal_sampler NAME` and the sampler's own flags to reach it, and the built-in flags work as before."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from training_helpers import write_real_clips

import vito_hf
from vito_hf.cli import HfArgumentParser
from vito_hf.data import ChunkSampler, DataArguments, FixedDelaySampler, MarginalSampler, temporal_sampler
from vito_hf.data.samplers import TemporalSampler, sampler_names, sampler_parameters
from vito_hf.data.samplers import base as sampler_base

REPOSITORY = Path(__file__).resolve().parents[2]
SCRIPT = REPOSITORY / "training_scripts" / "run_pretraining.py"

NEW_SAMPLER = '''
from dataclasses import dataclass, field

from .base import SampledTimes, TemporalSampler


@dataclass(frozen=True)
class EvenSampler(TemporalSampler, name="even"):
    """Views spread evenly over the clip, --edge_seconds in from its ends."""

    edge_seconds: float = field(default=0.0, metadata={"help": "Distance of the outer views from the clip's ends."})
    num_views: int = 3

    def __call__(self, duration, generator=None):
        start, end = self.edge_seconds, max(duration - self.edge_seconds, self.edge_seconds)
        step = (end - start) / (self.num_views - 1)
        return SampledTimes(start, end, tuple(start + k * step for k in range(self.num_views)))
'''

PROBE = """
import json, sys
import vito_hf
from vito_hf.cli import HfArgumentParser
from vito_hf.data import temporal_sampler
from vito_hf.training import DataArguments, ModelArguments, VitoTrainingArguments
parser = HfArgumentParser((ModelArguments, DataArguments, VitoTrainingArguments))
_, data_args, _ = parser.parse_dataclasses(sys.argv[1:])
sampler = temporal_sampler(data_args)
print(json.dumps({"package": vito_hf.__file__, "sampler": type(sampler).__name__, "times": sampler(2.0).times}))
"""


def test_built_in_flags_reach_their_samplers():
    parser = HfArgumentParser((DataArguments,))
    cases = {
        ("--temporal_sampler", "delta", "--delay_seconds", "0.3"): FixedDelaySampler(delay_seconds=0.3, num_views=3),
        ("--temporal_sampler", "chunk", "--window_seconds", "1.5", "--num_views", "4"): ChunkSampler(1.5, 4),
        ("--window_seconds", "2.0",): MarginalSampler(window_seconds=2.0, num_views=3),
    }
    for argv, expected in cases.items():
        (data_args,) = parser.parse_args_into_dataclasses(list(argv))
        assert temporal_sampler(data_args) == expected
    assert DataArguments().window_seconds == 2.56 and DataArguments().delay_seconds == 0.5
    with pytest.raises(ValueError, match="temporal_sampler"):
        DataArguments(temporal_sampler="even")


def test_samplers_sharing_a_parameter_must_agree_on_its_default():
    @dataclasses.dataclass(frozen=True)
    class WideSampler(TemporalSampler, name="wide_for_test"):
        """Test: a second window_seconds with another default."""

        window_seconds: float = 5.0
        num_views: int = 3

    try:
        with pytest.raises(TypeError, match="window_seconds.*rename one"):
            sampler_parameters()
    finally:
        del sampler_base._REGISTRY["wide_for_test"]
    assert "wide_for_test" not in sampler_names()


def test_one_new_file_is_enough_for_the_cli(tmp_path):
    package = tmp_path / "src" / "vito_hf"
    shutil.copytree(Path(vito_hf.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "data" / "samplers" / "even.py").write_text(NEW_SAMPLER)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    flags = ["--temporal_sampler", "even", "--edge_seconds", "0.25"]

    probe = subprocess.run([sys.executable, "-c", PROBE, *flags], capture_output=True, text=True, env=env, timeout=300)
    assert probe.returncode == 0, probe.stderr[-3000:]
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert Path(seen["package"]).parent == package
    assert seen["sampler"] == "EvenSampler" and seen["times"] == [0.25, 1.0, 1.75]

    clips = write_real_clips(tmp_path / "clips")
    command = [
        sys.executable, str(SCRIPT), "--output_dir", str(tmp_path / "run"), "--data_dir", str(clips),
        "--preset", "tiny", "--image_size", "32", "--max_steps", "1", "--per_device_train_batch_size", "2",
        "--optimizer_name", "adamw", "--use_cpu", "--disable_tqdm", "true", "--report_to", "none", *flags,
    ]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "steps trained: 1" in run.stdout and (tmp_path / "run" / "encoder" / "model.safetensors").is_file()

    # The installed package, without the file, refuses the name.
    refused = subprocess.run([sys.executable, "-c", PROBE, *flags], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "PYTHONPATH": str(Path(vito_hf.__file__).parents[1])})
    assert refused.returncode == 2 and "invalid choice: 'even'" in refused.stderr
