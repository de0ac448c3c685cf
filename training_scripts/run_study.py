#!/usr/bin/env python
"""The small-scale study: does temporal contrast beat image contrast on real images in motion?

    python training_scripts/run_study.py --output_dir study              # the committed protocol, ~1 h on 2 cores
    python training_scripts/run_study.py --output_dir study_quick --quick   # the pipeline in about two minutes
    python training_scripts/run_study.py --output_dir calibration --calibrate   # the calibration that chose it
    python training_scripts/run_study.py --output_dir study_gpu --scale gpu --device cuda   # larger, on a GPU

Generates videos of Fashion-MNIST items moving over real photographs and footage, curates them into a clip store,
pretrains every arm under every seed of vito_hf.study.protocol, measures each with the evaluation suites and the
invariance measure on held-out stills and clips, and writes OUTPUT_DIR/results.{md,json,png} with the arms' paired
differences. Rerunning into the same folder continues an interrupted study. All logic lives in vito_hf.study.
"""

import logging
import sys
from pathlib import Path

import torch

from vito_hf.cli import ArgumentParser
from vito_hf.study.calibration import CALIBRATION, run_calibration
from vito_hf.study.protocol import PROTOCOLS
from vito_hf.study.report import write_report
from vito_hf.study.runner import StudyError, run_study


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", required=True, help="folder of the study (reruns continue it)")
    parser.add_argument("--scale", choices=sorted(PROTOCOLS), default="cpu",
                        help="cpu: the committed protocol (tiny preset, 64 px); gpu: small preset at 224 px")
    parser.add_argument("--quick", action="store_true", help="three arms, one seed, a few steps: a smoke run")
    parser.add_argument("--calibrate", action="store_true",
                        help="run the calibration attempts (vito arm and random init only) instead of the arms")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="where to pretrain and evaluate (default: cuda when present)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.calibrate:
        run_calibration(args.output_dir, CALIBRATION, device=args.device)
        print((Path(args.output_dir) / "calibration.md").read_text())
        return 0
    try:
        study = run_study(args.output_dir, PROTOCOLS["quick" if args.quick else args.scale], device=args.device)
    except StudyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    paths = write_report(study, args.output_dir)
    print(paths["markdown"].read_text())
    for key, path in paths.items():
        print(f"{key}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
