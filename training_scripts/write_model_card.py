#!/usr/bin/env python
"""Write (or rewrite) the model card of a saved VITO folder from the run files in it; optionally add an
evaluation's results.json first, and copy the card elsewhere (e.g. into model_cards/).

    python training_scripts/write_model_card.py vito_demo/pretraining_run/encoder
    python training_scripts/write_model_card.py runs/tiny/encoder --results eval/results.json \\
        --model_id me/vito-tiny --dataset_repo_id me/videonet-clips --copy_to model_cards/vito-tiny-demo.md

All logic lives in vito_hf.hub.cards.
"""

import shutil
import sys

from vito_hf.cli import ArgumentParser
from vito_hf.hub import ModelCardError, update_card_with_results, write_model_card


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="a saved VITO folder (config.json, weights, run files)")
    parser.add_argument("--results", help="results.json of an evaluation: becomes the card's model-index")
    parser.add_argument("--model_id", help="the model's Hub repo id, shown in the card and its loading code")
    parser.add_argument("--dataset_repo_id", help="the Hub dataset repo of the training clips")
    parser.add_argument("--base_model", help="the Hub model these weights were fine-tuned or converted from")
    parser.add_argument("--license", help="licence identifier of the weights (default: apache-2.0 or as recorded)")
    parser.add_argument("--copy_to", help="also copy the card to this path")
    args = parser.parse_args(argv)
    try:
        path = write_model_card(args.folder, model_id=args.model_id, dataset_repo_id=args.dataset_repo_id,
                                license=args.license, base_model=args.base_model)
        if args.results:
            path = update_card_with_results(args.folder, args.results)
    except ModelCardError as error:
        parser.error(str(error))
    if args.copy_to:
        shutil.copyfile(path, args.copy_to)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
