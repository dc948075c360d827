"""The object classifier of ``check-scenes``: a small CNN trained from scratch on real procedural crops
(18 scene classes), its training data, and the crops of evaluated images.

Real scenes are rendered like the training data (``scene_check.render_real``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import ModelFileError, UnknownCategoryError
from ..vocab import Vocabulary
from . import classifier as clf_mod

CLASSIFIER_SEED_BASE = 20_000_000   # classifier training scene j: sample_scene(CLASSIFIER_SEED_BASE + j)
# The scene classifier: 5 epochs on the ~11k crops of 2000 scenes reach ~98-99 % top-1 on held-out
# real crops (8 epochs: 99.3 %); ~4.5 ms per crop and epoch on 2 busy cores.
CLASSIFIER_WIDTHS = (16, 32, 64)
CLASSIFIER_EPOCHS = 5
CLASSIFIER_BATCH = 128
CLASSIFIER_LR = 3e-3


def scene_vocabulary() -> Vocabulary:
    """The classifier's classes: ``__image__`` then the scene categories (ids 1..18)."""
    from ..data.scenes import SCENE_CATEGORIES

    return Vocabulary.from_names(SCENE_CATEGORIES)


def check_scene_categories(vocabulary: Vocabulary, model_name: str = "the model") -> None:
    """Raises UnknownCategoryError (a Layout2ImError) naming every scene category the vocabulary lacks."""
    from ..data.scenes import SCENE_CATEGORIES

    missing = [c for c in SCENE_CATEGORIES if c not in vocabulary]
    if missing:
        raise UnknownCategoryError(f"{model_name}'s vocabulary lacks the scene categories {missing}; "
                                   f"check-scenes needs a model with every procedural-scene category "
                                   f"(e.g. one trained on make-scenes data, COCO-Stuff vocabulary)", missing)


def scene_crops(images: np.ndarray, layouts: Sequence) -> Tuple[torch.Tensor, torch.Tensor]:
    """Crops of every object at its layout box (as is, occluded or not) and scene-vocabulary labels.

    Args:
        images: uint8 [N, 64, 64, 3]; layouts: N SceneLayout or LayoutSpec, objects with ``category``
            and ``bbox``.
    Returns:
        crops float [sum n_i, 3, 32, 32] in [0, 1]; labels int64 [sum n_i] (ids of scene_vocabulary()).
    """
    vocab = scene_vocabulary()
    boxes = [torch.tensor([o.bbox for o in lay.objects], dtype=torch.float32) for lay in layouts]
    labels = torch.tensor([vocab.id_of(o.category) for lay in layouts for o in lay.objects], dtype=torch.long)
    return clf_mod.object_crops(clf_mod.uint8_to_float(images), boxes), labels


def real_training_crops(train_scenes: int, progress: Optional[Callable[[str], None]] = None
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Crops and scene-vocabulary labels of ``train_scenes`` real scenes
    ``sample_scene(CLASSIFIER_SEED_BASE + j)`` rendered like the training data."""
    from ..data.scenes import sample_scene

    crops, labels = [], []
    chunk = 100
    for s in range(0, train_scenes, chunk):
        lays = [sample_scene(CLASSIFIER_SEED_BASE + j) for j in range(s, min(train_scenes, s + chunk))]
        imgs = np.stack([_render_real(lay, CLASSIFIER_SEED_BASE + s + j) for j, lay in enumerate(lays)])
        c, lab = scene_crops(imgs, lays)
        crops.append(c)
        labels.append(lab)
        if progress is not None and (s // chunk) % 5 == 4:
            progress(f"  rendered {min(train_scenes, s + chunk)}/{train_scenes} real scenes")
    return torch.cat(crops), torch.cat(labels)


def _classifier(path, train_scenes: int, epochs: int, seed: int,
                say: Callable[[str], None]) -> Tuple[clf_mod.ObjectClassifier, Dict]:
    """The scene classifier (loaded or trained) and a description of it for the result."""
    vocab = scene_vocabulary()
    if path is not None and Path(path).is_file():
        clf, file_vocab = clf_mod.load_classifier(path)
        if file_vocab != vocab:
            raise ModelFileError(f"classifier file {path} does not classify the scene categories "
                                 f"(its classes: {file_vocab.categories[:6]}...); delete it or pass another "
                                 f"--classifier path to train one")
        say(f"scene classifier loaded from {path}")
        return clf, {"loaded_from": str(path), "config": clf_mod.config_dict(clf),
                     "classes": vocab.categories}
    say(f"rendering {train_scenes} real scenes for the scene classifier")
    crops, labels = real_training_crops(train_scenes, say)
    say(f"training the scene classifier from scratch on {len(crops)} real crops, {epochs} epochs")
    config = clf_mod.ClassifierConfig(len(vocab), widths=CLASSIFIER_WIDTHS)
    clf = clf_mod.train_classifier(crops, labels, vocab, epochs=epochs, batch_size=CLASSIFIER_BATCH, lr=CLASSIFIER_LR,
                                   seed=seed, config=config)
    info = {"trained_on": {"scenes": int(train_scenes), "crops": len(crops),
                           "layouts": f"sample_scene({CLASSIFIER_SEED_BASE} + j), j < {train_scenes}"},
            "epochs": int(epochs), "batch_size": CLASSIFIER_BATCH, "lr": CLASSIFIER_LR, "seed": int(seed),
            "config": clf_mod.config_dict(clf),
            "classes": vocab.categories}
    clf_mod.keep_trained(clf, vocab, path, info, say, "scene classifier")
    return clf, info






def _render_real(layout, seed: int) -> np.ndarray:
    from .scene_check import render_real

    return render_real(layout, seed)
