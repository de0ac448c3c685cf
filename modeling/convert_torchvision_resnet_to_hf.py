#!/usr/bin/env python
# Copyright 2026 The vito_hf authors. Licensed under the Apache License, Version 2.0.
"""Convert a torchvision-layout ResNet state dict into the backbone of a `VitoModel` (e.g. to start VITO
pretraining from supervised ImageNet weights).

    python modeling/convert_torchvision_resnet_to_hf.py --checkpoint resnet50.pth --output_dir resnet50-vito-init
    python modeling/convert_torchvision_resnet_to_hf.py --checkpoint resnet50.pth --output_dir init \\
        --preset resnet50 --for_pretraining   # a VitoForPreTraining folder (EMA target = online copy)

Every key of the state dict is accounted for: converted, ignored on purpose (the supervised `fc` head), or
reported as unknown; backbone weights the state dict lacks and shapes that do not match are reported too, and
any of those stops the conversion. The attention-pooling heads and projector keep their initialisation.
The release converter (`convert_vito_release_to_hf.py`) reuses the key mapping and checks defined here.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vito_hf.cli import ArgumentParser

BN_FIELDS = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
RENAMES = (
    (r"conv1\.weight", "embedder.embedder.convolution.weight"),
    (rf"bn1\.{BN_FIELDS}", r"embedder.embedder.normalization.\1"),
    (r"layer(\d)\.(\d+)\.conv(\d)\.weight", "encoder.stages.{stage}.layers.{block}.layer.{conv}.convolution.weight"),
    (rf"layer(\d)\.(\d+)\.bn(\d)\.{BN_FIELDS}", "encoder.stages.{stage}.layers.{block}.layer.{conv}.normalization.{field}"),
    (r"layer(\d)\.(\d+)\.downsample\.0\.weight", "encoder.stages.{stage}.layers.{block}.shortcut.convolution.weight"),
    (rf"layer(\d)\.(\d+)\.downsample\.1\.{BN_FIELDS}", "encoder.stages.{stage}.layers.{block}.shortcut.normalization.{field}"),
)
SUPERVISED_HEAD = re.compile(r"fc\.(weight|bias)")
OPTIONAL = re.compile(r".*\.num_batches_tracked")
"""Batch-norm step counters: not used in evaluation and absent from some exports; zero when missing."""


class ConversionError(ValueError):
    """The state dict does not fit the target model; the message lists every offending key."""


@dataclass
class ConversionReport:
    """What happened to every key: converted, ignored on purpose, unknown, missing, mis-shaped, defaulted."""

    converted: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    defaulted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.unknown or self.missing or self.mismatched)

    def summary(self) -> str:
        lines = [f"converted {len(self.converted)} tensors"]
        lines += self.notes
        for name in ("ignored", "defaulted", "unknown", "missing", "mismatched"):
            keys = getattr(self, name)
            if keys:
                lines.append(f"{name} ({len(keys)}): " + ", ".join(keys))
        return "\n".join(lines)


def rename_torchvision_key(key: str, prefix: str = "") -> str | None:
    """The transformers ResNet name of a torchvision ResNet key (with `prefix` before it), None if unknown."""
    for pattern, target in RENAMES:
        match = re.fullmatch(pattern, key)
        if match is None:
            continue
        groups = match.groups()
        if target.startswith("embedder"):
            return prefix + match.expand(target)
        stage, block, *rest = groups
        names = {"stage": int(stage) - 1, "block": int(block)}
        if "{conv}" in target:
            names["conv"] = int(rest.pop(0)) - 1
        if "{field}" in target:
            names["field"] = rest.pop(0)
        return prefix + target.format(**names)
    return None


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Tensors of a `.pth` file (loaded with `weights_only=True`: no code runs), unwrapped from a
    `{"state_dict": ...}` or `{"model": ...}` container and a DataParallel `module.` prefix; notes say which."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}: pass the path of a .pth state dict.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # an unpickling error says little about which file: name it
        raise ConversionError(f"{path} is not a state dict that loads with weights_only=True: {error}") from error
    notes = []
    for container in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(container), Mapping):
            notes.append(f"read the tensors under the checkpoint's {container!r} entry")
            state = state[container]
    if not isinstance(state, Mapping) or not all(torch.is_tensor(value) for value in state.values()):
        raise ConversionError(f"{path} holds no flat mapping of names to tensors.")
    if state and all(key.startswith("module.") for key in state):
        notes.append("stripped the DataParallel prefix 'module.'")
        state = {key.removeprefix("module."): value for key, value in state.items()}
    return dict(state), notes


def load_renamed(
    model: torch.nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    rename: Callable[[str], str | None],
    *,
    ignore: re.Pattern | None = None,
    targets: re.Pattern | None = None,
    notes: Sequence[str] = (),
) -> ConversionReport:
    """Copy `state_dict` into `model` through `rename`; check every key both ways before copying anything.

    `ignore` matches source keys left out on purpose; `targets` selects the model keys the source must fill
    (default: all); `notes` say how the state dict was read. Raises `ConversionError` listing unknown, missing
    and mis-shaped keys.
    """
    report = ConversionReport(notes=list(notes))
    expected = model.state_dict()
    wanted = {key for key in expected if targets is None or targets.fullmatch(key)}
    converted, seen = {}, set()
    for key, tensor in state_dict.items():
        if ignore is not None and ignore.fullmatch(key):
            report.ignored.append(key)
            continue
        name = rename(key)
        if name is None or name not in wanted:
            report.unknown.append(key if name is None else f"{key} (-> {name}, not in the model)")
        elif tuple(tensor.shape) != tuple(expected[name].shape):
            seen.add(name)
            report.mismatched.append(f"{key}: {tuple(tensor.shape)} vs {name}: {tuple(expected[name].shape)}")
        else:
            converted[name] = tensor
            report.converted.append(key)
    for name in sorted(wanted - set(converted) - seen):
        (report.defaulted if OPTIONAL.fullmatch(name) else report.missing).append(name)
    if not report.ok:
        raise ConversionError("The state dict does not fit the model:\n" + report.summary())
    with torch.no_grad():
        for name, tensor in converted.items():
            expected[name].copy_(tensor.to(expected[name].dtype))
        for name in report.defaulted:
            expected[name].zero_()
    return report


def write_conversion_record(
    output_dir: str | Path, checkpoint: str | Path, report: ConversionReport, model: torch.nn.Module, *,
    converter: str, description: str, data: str, license: str, license_note: str = "", base_model: str | None = None,
) -> Path:
    """`conversion.json` beside the converted weights (source file and hash, what happened to every key,
    parameters, what the card should say about data and licence, the Hub repo of the source weights if they have
    one: the card's `base_model`), then the folder's model card, written from it."""
    from vito_hf.hub import write_model_card
    from vito_hf.atomic_files import write_json_atomic

    digest = hashlib.sha256()
    with open(checkpoint, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    record = {
        "format_version": 1,
        "base_model": base_model,
        "converter": f"modeling/{Path(converter).name}",
        "source": Path(checkpoint).name,
        "sha256": digest.hexdigest(),
        "parameters": sum(parameter.numel() for parameter in model.parameters()),
        "backbone_padding": model.config.backbone_padding,
        "report": {"converted": len(report.converted), "ignored": report.ignored, "defaulted": report.defaulted,
                   "notes": report.notes},
        "description": description,
        "data": data,
        "license": license,
        "license_note": license_note,
    }
    path = Path(output_dir) / "conversion.json"
    write_json_atomic(path, record, sort_keys=False)
    write_model_card(output_dir)
    return path


def convert_torchvision_resnet(
    checkpoint: str | Path, output_dir: str | Path, *, preset: str = "resnet50", for_pretraining: bool = False,
    base_model: str | None = None,
) -> ConversionReport:
    """Write a `VitoModel` (or `VitoForPreTraining`) folder whose backbone holds the torchvision weights."""
    from vito_hf import VitoForPreTraining, VitoImageProcessor, VitoModel, load_preset

    state_dict, notes = read_state_dict(checkpoint)
    config = load_preset(preset)
    model = VitoForPreTraining(config) if for_pretraining else VitoModel(config)
    encoder = model.vito if for_pretraining else model
    report = load_renamed(
        encoder,
        state_dict,
        lambda key: rename_torchvision_key(key, prefix="backbone."),
        ignore=SUPERVISED_HEAD,
        targets=re.compile(r"backbone\..*"),
        notes=notes,
    )
    if for_pretraining:
        model.reset_target()
    model.eval().save_pretrained(output_dir)
    VitoImageProcessor().save_pretrained(output_dir)  # ImageNet evaluation preprocessing: 256 -> 224 crop
    write_conversion_record(
        output_dir, checkpoint, report, model, converter=__file__,
        description=f"A VITO `{preset}` model whose backbone holds the torchvision ResNet weights of "
                    f"`{Path(checkpoint).name}`; its attention pooling (and projector) are at initialisation, "
                    "ready for VITO pretraining.",
        data=f"Whatever `{Path(checkpoint).name}` was trained on (not recorded in the file); the pooling heads have "
             "seen no data.",
        license="other",
        license_note="The licence of the source weights applies.",
        base_model=base_model,
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="torchvision-layout ResNet state dict (.pth)")
    parser.add_argument("--output_dir", required=True, help="folder to write the VITO checkpoint to")
    parser.add_argument("--preset", default="resnet50", help="VITO preset whose backbone receives the weights")
    parser.add_argument("--for_pretraining", action="store_true", help="write a VitoForPreTraining folder")
    parser.add_argument("--base_model", help="Hub repo of the source weights, if they have one, e.g. "
                        "timm/resnet50.tv_in1k for torchvision's IMAGENET1K_V1 (the card's base_model)")
    args = parser.parse_args(argv)
    try:
        report = convert_torchvision_resnet(
            args.checkpoint, args.output_dir, preset=args.preset, for_pretraining=args.for_pretraining,
            base_model=args.base_model,
        )
    except (ConversionError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report.summary())
    print(f"saved to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
