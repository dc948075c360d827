"""Object accuracy: a small CNN trained from scratch on real 32x32 object crops.

No ImageNet weights are available here, so unlike the paper's classifier (unknown architecture) and
the follow-up repo's (ImageNet ResNet-50 fine-tuned on 224x224 crops, spec §9) this one starts from
random weights. It is trained on crops of the training split (``geometry.crop_bboxes``, S = 32);
its accuracy on crops of held-out real images is the ceiling that accuracy on crops of generated
images is read against. Predictions are restricted to the vocabulary's real categories (no
``__image__``, no placeholder ids).

File format: safetensors; metadata ``{"format": "layout2im-object-classifier", "version": "1",
"config": JSON of ClassifierConfig, "vocabulary": JSON of the vocabulary}``. No pickle.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import json_ready
from ..errors import Layout2ImError, ModelFileError
from ..geometry import crop_bboxes
from ..vocab import Vocabulary

FILE_FORMAT = "layout2im-object-classifier"
FILE_VERSION = "1"
CROP_SIZE = 32


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture: three conv stages (two 3x3 convs + BN + ReLU each, 2x2 max-pool after the first
    two), global average pool, dropout, linear. ``num_classes`` = vocabulary size."""

    num_classes: int
    widths: Tuple[int, int, int] = (16, 32, 64)  # ~10 M multiply-adds per 32x32 crop
    dropout: float = 0.3


class ObjectClassifier(nn.Module):
    """Small CNN: [N, 3, 32, 32] crops in [0, 1] -> [N, num_classes] logits (invalid ids at -inf).

    Args:
        config: ClassifierConfig.
        valid_ids: the vocabulary's real category ids; other ids are never predicted.
    """

    def __init__(self, config: ClassifierConfig, valid_ids: Sequence[int]):
        super().__init__()
        self.config = config
        layers: List[nn.Module] = []
        c_in = 3
        for i, c in enumerate(config.widths):
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                       nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            if i < len(config.widths) - 1:
                layers.append(nn.MaxPool2d(2))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(c_in, config.num_classes)
        valid = torch.zeros(config.num_classes, dtype=torch.bool)
        valid[torch.as_tensor(list(valid_ids), dtype=torch.long)] = True
        self.register_buffer("valid", valid)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        if crops.ndim != 4 or crops.shape[1:] != (3, CROP_SIZE, CROP_SIZE):
            raise Layout2ImError(f"classifier input must be [N, 3, {CROP_SIZE}, {CROP_SIZE}], got {list(crops.shape)}")
        h = self.features(crops * 2 - 1).mean((2, 3))  # [N, C]
        logits = self.fc(self.dropout(h))  # [N, num_classes]
        return logits.masked_fill(~self.valid, float("-inf"))


def object_crops(images: torch.Tensor, bboxes: Sequence[torch.Tensor]) -> torch.Tensor:
    """32x32 crops of every box of every image.

    Args:
        images: [B, 3, H, W] float in [0, 1].
        bboxes: B tensors [n_b, 4] (x0, y0, x1, y1) in [0, 1].
    Returns:
        [sum n_b, 3, 32, 32] float, in image order then box order.
    """
    if len(bboxes) != len(images):
        raise Layout2ImError(f"{len(images)} images but {len(bboxes)} box lists")
    boxes = torch.cat([torch.as_tensor(b, dtype=torch.float32).reshape(-1, 4) for b in bboxes])  # [N, 4]
    obj_to_img = torch.cat([torch.full((len(b),), i, dtype=torch.long) for i, b in enumerate(bboxes)])  # [N]
    return crop_bboxes(images.float(), boxes.to(images.device), obj_to_img.to(images.device), size=CROP_SIZE)


def uint8_to_float(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W] in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255


def dataset_crops(dataset, indices: Optional[Iterable[int]] = None,
                  batch: int = 64) -> Tuple[torch.Tensor, torch.Tensor]:
    """Crops and labels of the objects of dataset items (batch-contract dicts).

    Returns:
        crops [N, 3, 32, 32] float in [0, 1]; labels [N] int64.
    """
    indices = list(range(len(dataset))) if indices is None else list(indices)
    crops, labels = [], []
    for s in range(0, len(indices), batch):
        items = [dataset[i] for i in indices[s:s + batch]]
        imgs = torch.stack([it["img"] for it in items])  # [b, 3, H, W]
        crops.append(object_crops(imgs, [it["bboxes"] for it in items]))
        labels.append(torch.cat([torch.as_tensor(it["objs"], dtype=torch.long).reshape(-1) for it in items]))
    if not crops:
        return torch.zeros(0, 3, CROP_SIZE, CROP_SIZE), torch.zeros(0, dtype=torch.long)
    return torch.cat(crops), torch.cat(labels)


def train_classifier(crops: torch.Tensor, labels: torch.Tensor, vocabulary: Vocabulary, epochs: int = 30,
                     batch_size: int = 64, lr: float = 2e-3, weight_decay: float = 5e-4, seed: int = 0,
                     device: str = "cpu", config: Optional[ClassifierConfig] = None,
                     progress: Optional[Callable[[int, float], None]] = None) -> ObjectClassifier:
    """Train an ObjectClassifier from scratch (AdamW, cosine schedule, random horizontal flips and
    up-to-2-px translations).

    Args:
        crops: [N, 3, 32, 32] float in [0, 1]; labels: [N] int64 ids of ``vocabulary``.
        progress: called as progress(epoch, mean_loss) after each epoch.
    Returns:
        the classifier in eval mode, on ``device``.
    Raises:
        Layout2ImError: no crops, or labels that are not real categories of ``vocabulary``.
    """
    if len(crops) == 0 or len(crops) != len(labels):
        raise Layout2ImError(f"training the object classifier needs crops with one label each, got "
                             f"{len(crops)} crops and {len(labels)} labels")
    valid = vocabulary.category_ids
    bad = sorted(set(labels.tolist()) - set(valid))
    if bad:
        raise Layout2ImError(f"labels {bad[:10]} are not real categories of the {len(vocabulary)}-entry vocabulary")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    clf = ObjectClassifier(config or ClassifierConfig(len(vocabulary)), valid).to(device)
    opt = torch.optim.AdamW(clf.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * ((len(crops) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.15)
    crops, labels = crops.float(), labels.long()
    for epoch in range(epochs):
        clf.train()
        order = torch.randperm(len(crops), generator=gen)
        total = 0.0
        for s in range(0, len(crops), batch_size):
            idx = order[s:s + batch_size]
            x = _augment(crops[idx], gen).to(device)  # [b, 3, 32, 32]
            loss = F.cross_entropy(clf(x), labels[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if progress is not None:
            progress(epoch, total / len(crops))
    return clf.eval()


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and a random translation of up to 2 px (edge-replicated) per crop."""
    flip = torch.rand(len(x), generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    pad = F.pad(x, (2, 2, 2, 2), mode="replicate")  # [b, 3, 36, 36]
    dx, dy = torch.randint(0, 5, (2,), generator=gen).tolist()
    return pad[:, :, dy:dy + CROP_SIZE, dx:dx + CROP_SIZE]


@dataclass(frozen=True)
class Accuracy:
    """Top-1 and top-5 accuracy (fractions in [0, 1]) over ``n`` crops."""

    top1: float
    top5: float
    n: int


@torch.no_grad()
def accuracy(clf: ObjectClassifier, crops: torch.Tensor, labels: torch.Tensor, batch_size: int = 256) -> Accuracy:
    """Top-1 / top-5 accuracy of ``clf`` on crops [N, 3, 32, 32] in [0, 1] with labels [N].
    With fewer than 5 valid classes top-5 counts every crop as correct."""
    if len(crops) == 0 or len(crops) != len(labels):
        raise Layout2ImError(f"accuracy needs crops with one label each, got {len(crops)} and {len(labels)}")
    clf.eval()
    device = next(clf.parameters()).device
    k = min(5, int(clf.valid.sum()))
    hit1 = hit5 = 0
    for s in range(0, len(crops), batch_size):
        logits = clf(crops[s:s + batch_size].float().to(device))  # [b, num_classes]
        y = labels[s:s + batch_size].to(device)
        topk = logits.topk(k, dim=1).indices  # [b, k]
        hit1 += int((topk[:, 0] == y).sum())
        hit5 += int((topk == y[:, None]).any(1).sum())
    return Accuracy(hit1 / len(crops), hit5 / len(crops), len(crops))


def config_dict(clf: ObjectClassifier) -> Dict:
    """The classifier's config as JSON-ready data (for reports)."""
    return json_ready(asdict(clf.config))


def keep_trained(clf: ObjectClassifier, vocabulary: Vocabulary, path, info: Dict, say: Callable[[str], None],
                 what: str = "object classifier") -> None:
    """After training: save ``clf`` to ``path`` when one is given (``info["saved_to"]``, and say so)."""
    if path is not None:
        save_classifier(clf, vocabulary, path)
        info["saved_to"] = str(path)
        say(f"{what} saved to {path}")


def save_classifier(clf: ObjectClassifier, vocabulary: Vocabulary, path) -> None:
    """Write the classifier as safetensors with its config and vocabulary (atomic replace)."""
    from safetensors.torch import save

    from ..atomic import atomic_write

    path = Path(path)
    meta = {"format": FILE_FORMAT, "version": FILE_VERSION,
            "config": json.dumps(asdict(clf.config)), "vocabulary": json.dumps(vocabulary.to_dict())}
    tensors = {k: v.detach().cpu().contiguous() for k, v in clf.state_dict().items()}
    atomic_write(path, save(tensors, metadata=meta))


def load_classifier(path, device: str = "cpu") -> Tuple[ObjectClassifier, Vocabulary]:
    """Read a file written by :func:`save_classifier`.

    Raises:
        ModelFileError: missing, not safetensors, not a classifier file, or weights that do not fit.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"classifier file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta: Dict[str, str] = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises several types on a bad header
        raise ModelFileError(f"{path} is not a safetensors file: {e}") from None
    if meta.get("format") != FILE_FORMAT:
        raise ModelFileError(f"{path} is not an object-classifier file (format {meta.get('format')!r})")
    try:
        cfg = json.loads(meta["config"])
        config = ClassifierConfig(int(cfg["num_classes"]), tuple(cfg["widths"]), float(cfg["dropout"]))
        vocabulary = Vocabulary.from_dict(json.loads(meta["vocabulary"]))
        clf = ObjectClassifier(config, vocabulary.category_ids)
        clf.load_state_dict(tensors, strict=True)
    except (KeyError, ValueError, TypeError, RuntimeError) as e:
        raise ModelFileError(f"{path}: classifier file does not fit: {e}") from None
    return clf.to(device).eval(), vocabulary
