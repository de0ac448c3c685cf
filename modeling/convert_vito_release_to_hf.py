#!/usr/bin/env python
# Copyright 2026 The vito_hf authors. Licensed under the Apache License, Version 2.0.
"""Convert the public VITO release (Brain-Score's `resnet50_vito_linear_sdattn.pth`) into a
`VitoForImageClassification` folder that `AutoModelForImageClassification` loads.

    python modeling/convert_vito_release_to_hf.py --checkpoint resnet50_vito_linear_sdattn.pth \\
        --output_dir vito-resnet50-release

The release is a torchvision-layout ResNet-50 trained with TensorFlow's SAME padding, whose global average
pool is replaced by attention pooling on conv5_x (`avgpool.module_list.{0,2,4}`: 1x1 conv 2048 -> 4096 with
bias, ReLU, 1x1 conv 4096 -> 2048 with bias, ReLU, 1x1 conv 2048 -> 1 without bias; softmax over positions,
weighted sum), read out by a linear ImageNet-1k classifier `fc` (42,342,440 parameters in all). The target
architecture is `modeling/configs/vito-resnet50-release.json` (`backbone_padding="tf-same"`); labels come from
the package's ImageNet-1k class list. Every key is converted or reported; nothing is dropped silently.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from importlib import resources
from pathlib import Path

from vito_hf.cli import ArgumentParser

from convert_torchvision_resnet_to_hf import (
    ConversionError,
    ConversionReport,
    load_renamed,
    read_state_dict,
    rename_torchvision_key,
    write_conversion_record,
)

CONFIG_PATH = Path(__file__).parent / "configs" / "vito-resnet50-release.json"
RELEASE_PARAMETERS = 42_342_440
HEAD_RENAMES = {
    r"avgpool\.module_list\.([024])\.(weight|bias)": r"vito.pooling.0.mlp.\1.\2",
    r"fc\.(weight|bias)": r"classifier.\1",
}


def rename_release_key(key: str) -> str | None:
    """The `VitoForImageClassification` name of a release key, None if the release has no such key."""
    for pattern, target in HEAD_RENAMES.items():
        match = re.fullmatch(pattern, key)
        if match is not None:
            return match.expand(target)
    return rename_torchvision_key(key, prefix="vito.backbone.")


def imagenet_labels() -> dict[int, str]:
    """ImageNet-1k class names in logit order; the two names WordNet uses twice get their synset id."""
    text = resources.files("vito_hf.curation").joinpath("resources/imagenet1k_classes.tsv").read_text()
    rows = list(csv.DictReader(text.splitlines(), delimiter="\t"))
    names = [row["name"] for row in rows]
    return {
        int(row["index"]): row["name"] if names.count(row["name"]) == 1 else f"{row['name']} ({row['id']})"
        for row in rows
    }


def release_config():
    """The release's `VitoConfig` (from `CONFIG_PATH`) with the ImageNet-1k labels."""
    from vito_hf import VitoConfig

    fields = {key: value for key, value in json.loads(CONFIG_PATH.read_text()).items() if not key.startswith("_")}
    fields.pop("model_type")
    id2label = imagenet_labels()
    return VitoConfig(**fields, id2label=id2label, label2id={name: index for index, name in id2label.items()})


def convert_vito_release(checkpoint: str | Path, output_dir: str | Path) -> ConversionReport:
    """Write the release as a `VitoForImageClassification` folder (weights, config, remote code, processor)."""
    from vito_hf import VitoForImageClassification, VitoImageProcessor

    state_dict, notes = read_state_dict(checkpoint)
    model = VitoForImageClassification(release_config())
    report = load_renamed(model, state_dict, rename_release_key, notes=notes)
    parameters = sum(parameter.numel() for parameter in model.parameters())
    if parameters != RELEASE_PARAMETERS:
        raise ConversionError(f"The converted model has {parameters:,} parameters, the release {RELEASE_PARAMETERS:,}.")
    model.eval().save_pretrained(output_dir)
    VitoImageProcessor().save_pretrained(output_dir)  # Brain-Score's preprocessing: 224 crop, ImageNet mean/std
    write_conversion_record(
        output_dir, checkpoint, report, model, converter=__file__,
        description="The publicly released VITO ResNet-50 (Brain-Score's `resnet50_vito_linear_sdattn.pth`: "
                    "attention pooling on conv5_x, a linear ImageNet-1k readout), converted to transformers.",
        data="Not recorded in the released file. The paper pretrains on VideoNet, YouTube clips curated by matching "
             "video titles to ImageNet class names and filtering them with an ImageNet classifier; the `fc` readout "
             "is a linear classifier on ImageNet-1k.",
        license="other",
        license_note="The terms of the original release apply.",
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="resnet50_vito_linear_sdattn.pth")
    parser.add_argument("--output_dir", required=True, help="folder to write the VitoForImageClassification to")
    args = parser.parse_args(argv)
    try:
        report = convert_vito_release(args.checkpoint, args.output_dir)
    except (ConversionError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report.summary())
    print(f"saved to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
