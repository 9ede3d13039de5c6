"""``--soup N``: N fine-tuned runs of the trained network, merged by a greedy soup on a validation split.

Each ingredient is a copy of the trained float network fine-tuned for ``soup_epochs`` with its own
seed (data order, augmentation) and its own learned rate (cycling 0.5×, 1×, 2× of a fifth of ``--lr``),
with the same loss as the main run (the distillation loss when teachers are given). The validation
images are the ``val_fraction`` of the training set that :func:`automcu.compress.pipeline.prepare_data`
held out from every training run of this request; the test set is never used to choose.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from automcu.compress.pipeline import Prepared, Timer, Trained, _train_cfg, make_distiller
from automcu.compress.request import CompressRequest

LR_FACTORS = (0.5, 1.0, 2.0)


def run_soup(req: CompressRequest, prep: Prepared, trained: Trained, timer: Timer) -> Trained:
    from automcu.train.loop import train_model
    from automcu.train.metrics import evaluate
    from automcu.train.soup import greedy_soup

    if prep.x_val is None or prep.y_val is None:
        raise ValueError("--soup needs the validation split prepare_data holds out")
    t0 = time.perf_counter()
    ingredients: list[Any] = []
    for i in range(req.soup):
        model = copy.deepcopy(trained.model)
        distiller = make_distiller(req, model, trained.teachers, prep.data.input_shape)
        cfg = _train_cfg(req, prep.data, req.seed + 100 + i, epochs=req.effective_soup_epochs)
        cfg = type(cfg)(**{**cfg.to_dict(), "lr": req.lr * 0.2 * LR_FACTORS[i % len(LR_FACTORS)]})
        train_model(model, prep.x_train, prep.data.y_train, cfg, distiller=distiller,
                    label=f"soup ingredient {i + 1}/{req.soup}", progress=req.progress)
        ingredients.append(model.eval())
    res = greedy_soup(ingredients, prep.x_val, prep.y_val)
    test = [evaluate(m, prep.x_test, prep.data.y_test) for m in ingredients]
    soup_acc = evaluate(res.model, prep.x_test, prep.data.y_test)
    timer.lap("soup")
    info = {"n": req.soup, "epochs": req.effective_soup_epochs, "n_val": len(prep.x_val),
            "base_acc": trained.float_acc, "soup_acc": soup_acc, "gain_pp": soup_acc - trained.float_acc,
            "best_ingredient_test_acc": max(test), "ingredient_test_acc": test,
            "seconds": round(time.perf_counter() - t0, 2), **res.to_dict()}
    return Trained(res.model, soup_acc, trained.kd, trained.teachers, info)
