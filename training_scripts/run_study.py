#!/usr/bin/env python
"""The small-scale study: does temporal contrast beat image contrast on real images in motion?

    python training_scripts/run_study.py --output_dir study            # the committed protocol, ~1 h on 2 cores
    python training_scripts/run_study.py --output_dir study_quick --quick   # the pipeline in a few minutes

Generates videos of Fashion-MNIST items moving over real photographs and footage, curates them into a clip store,
pretrains the tiny preset under every arm and seed of vito_hf.study.protocol, measures each with the evaluation
suites on held-out stills and clips, and writes OUTPUT_DIR/results.{md,json,png}. Rerunning into the same folder
continues an interrupted study. All logic lives in vito_hf.study.
"""

import logging
import sys

from vito_hf.cli import ArgumentParser
from vito_hf.study.protocol import PROTOCOL, QUICK_PROTOCOL
from vito_hf.study.report import write_report
from vito_hf.study.runner import StudyError, run_study


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", required=True, help="folder of the study (reruns continue it)")
    parser.add_argument("--quick", action="store_true", help="three arms, one seed, a few steps: a smoke run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        study = run_study(args.output_dir, QUICK_PROTOCOL if args.quick else PROTOCOL)
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
