"""Train the cat classifier from the command line and write a weight file.

    python -m model.train --epochs 2500 --lr 0.0075 --out weights/cat_mlp.npz

Prints the cost every 100 epochs (the course's table), then train and test accuracy.
"""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np
from tqdm import tqdm

from model.cat import REFERENCE_EPOCHS, REFERENCE_LR, REFERENCE_OPTIMIZER, REFERENCE_SEED, cat_mlp
from model.dataset import DatasetError, load_catvnoncat
from model.optim import OPTIMIZERS
from model.paths import WEIGHTS_FILE
from model.trainer import Trainer
from model.weights import save_weights


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.train", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=REFERENCE_EPOCHS)
    parser.add_argument("--lr", type=float, default=REFERENCE_LR)
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=REFERENCE_OPTIMIZER)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--seed", type=int, default=REFERENCE_SEED)
    parser.add_argument("--data-dir", default=None, help="folder with the catvnoncat h5 files (default: data/)")
    parser.add_argument("--out", default=str(WEIGHTS_FILE), help="where to write the weights (default: weights/)")
    parser.add_argument("--print-every", type=int, default=100)
    args = parser.parse_args(argv)

    try:
        data = load_catvnoncat(args.data_dir)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    trainer = Trainer(cat_mlp(seed=args.seed), data, lr=args.lr, optimizer=args.optimizer,
                      dtype=np.dtype(args.dtype).type, eval_every=math.gcd(10, args.print_every))
    printed = 0
    with tqdm(total=args.epochs, unit="epoch", dynamic_ncols=True) as bar:
        while trainer.epoch < args.epochs:
            result = trainer.run(epochs=min(args.print_every, args.epochs - trainer.epoch))
            if result.diverged:
                tqdm.write(f"error: {result.message}", file=sys.stderr)
                return 1
            for row in trainer.history[printed:]:
                if row.epoch % args.print_every == 0 and row.epoch < args.epochs:
                    tqdm.write(f"Cost after epoch {row.epoch}: {row.train_loss:.6f}")
            printed = len(trainer.history)
            bar.set_postfix(loss=f"{trainer.history[-1].train_loss:.6f}", refresh=False)
            bar.update(result.epochs)

    train_loss, train_acc = trainer.evaluate_train()
    test_loss, test_acc = trainer.evaluate(trainer.x_test, trainer.y_test)
    print(f"Train accuracy: {train_acc:.4f} ({round(train_acc * len(trainer.y_train))}/{len(trainer.y_train)})")
    print(f"Test accuracy:  {test_acc:.4f} ({round(test_acc * len(trainer.y_test))}/{len(trainer.y_test)})")
    save_weights(trainer.model, args.out, epochs=trainer.epoch, lr=args.lr, optimizer=args.optimizer,
                 seed=args.seed, train_loss=train_loss, test_loss=test_loss,
                 train_accuracy=train_acc, test_accuracy=test_acc)
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
