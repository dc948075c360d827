"""Object classifier: crops, training on a toy separable set, accuracy, safetensors round-trip."""

import pytest
import torch

from layout2im_core.errors import Layout2ImError, ModelFileError
from layout2im_core.metrics.classifier import (
    Accuracy,
    ClassifierConfig,
    ObjectClassifier,
    accuracy,
    load_classifier,
    object_crops,
    save_classifier,
    train_classifier,
)
from layout2im_core.vocab import Vocabulary

# ids 1, 3, 4 are categories; 2 is a placeholder (like COCO's unused ids)
VOCAB = Vocabulary(("__image__", "red", "__unused_2__", "green", "blue"))
COLORS = {1: (0.9, 0.1, 0.1), 3: (0.1, 0.8, 0.2), 4: (0.1, 0.2, 0.9)}
TINY = ClassifierConfig(len(VOCAB), widths=(8, 16, 16), dropout=0.0)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: a second thread only adds synchronisation




def toy_crops(n_per_class: int, seed: int):
    """Separable toy crops: a class colour plus noise."""
    g = torch.Generator().manual_seed(seed)
    crops, labels = [], []
    for cid, rgb in COLORS.items():
        base = torch.tensor(rgb)[None, :, None, None].expand(n_per_class, 3, 32, 32)
        crops.append((base + 0.15 * torch.randn(n_per_class, 3, 32, 32, generator=g)).clamp(0, 1))
        labels.append(torch.full((n_per_class,), cid, dtype=torch.long))
    return torch.cat(crops), torch.cat(labels)


def test_object_crops_order_and_content():
    imgs = torch.zeros(2, 3, 64, 64)
    imgs[0, 0, :32, :32] = 1.0  # red top-left quadrant in image 0
    imgs[1, 2, 32:, 32:] = 1.0  # blue bottom-right quadrant in image 1
    crops = object_crops(imgs, [torch.tensor([[0.0, 0.0, 0.5, 0.5]]),
                                torch.tensor([[0.5, 0.5, 1.0, 1.0], [0.0, 0.0, 0.5, 0.5]])])
    assert crops.shape == (3, 3, 32, 32)
    assert crops[0, 0, 4:-4, 4:-4].min() > 0.99 and crops[1, 2, 4:-4, 4:-4].min() > 0.99
    assert crops[2, :, :-1, :-1].abs().max() < 1e-6  # the last row/column samples the edge
    with pytest.raises(Layout2ImError, match="box lists"):
        object_crops(imgs, [torch.zeros(1, 4)])


def test_learns_toy_separable_set_and_never_predicts_placeholders():
    x, y = toy_crops(12, seed=0)
    clf = train_classifier(x, y, VOCAB, epochs=6, batch_size=12, lr=1e-2, config=TINY)
    xt, yt = toy_crops(10, seed=1)
    acc = accuracy(clf, xt, yt)
    assert acc.n == 30 and acc.top1 >= 0.9
    assert acc.top5 == 1.0  # only 3 valid classes: top-5 covers them all
    with torch.no_grad():
        pred = clf(xt).argmax(1)
    assert set(pred.tolist()) <= {1, 3, 4}


def test_accuracy_by_hand():
    clf = ObjectClassifier(TINY, VOCAB.category_ids)
    with torch.no_grad():
        for p in clf.parameters():
            p.zero_()
        clf.fc.bias.copy_(torch.tensor([5.0, 3.0, 9.0, 2.0, 1.0]))  # ranking among valid: 1, 3, 4
    x = torch.rand(4, 3, 32, 32)
    acc = accuracy(clf, x, torch.tensor([1, 1, 3, 4]))
    assert acc == Accuracy(top1=0.5, top5=1.0, n=4)


def test_bad_labels_raise():
    x, _ = toy_crops(2, seed=0)
    with pytest.raises(Layout2ImError, match="not real categories"):
        train_classifier(x, torch.full((len(x),), 2, dtype=torch.long), VOCAB, epochs=1, config=TINY)
    with pytest.raises(Layout2ImError, match="one label each"):
        train_classifier(x, torch.ones(1, dtype=torch.long), VOCAB, epochs=1, config=TINY)


def test_save_load_round_trip(tmp_path):
    x, y = toy_crops(4, seed=0)
    clf = train_classifier(x, y, VOCAB, epochs=1, batch_size=6, config=TINY)
    path = tmp_path / "clf.safetensors"
    save_classifier(clf, VOCAB, path)
    clf2, vocab2 = load_classifier(path)
    assert vocab2 == VOCAB and clf2.config == clf.config
    with torch.no_grad():
        assert torch.equal(clf(x), clf2(x))


def test_bad_files_raise(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_classifier(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelFileError, match="not a safetensors"):
        load_classifier(junk)
    from safetensors.torch import save_file
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(1)}, str(other), metadata={"format": "something-else"})
    with pytest.raises(ModelFileError, match="not an object-classifier"):
        load_classifier(other)
