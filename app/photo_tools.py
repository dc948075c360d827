"""Looks from photos: "take this object's look from a photo" (a box on an opened image, turned into z
by the model's crop encoder on the worker thread) and the import of a COCO or labelme annotation of a
photo as a new layout, each object's z taken from its crop in that photo."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, Signal
from PySide6.QtGui import QImage, QImageReader

from layout2im_core.boxes import clamp_bbox

from .annotations import (
    AnnotatedPhoto,
    AnnotationError,
    annotated_images,
    load_json,
    map_labels,
    merge_photos,
    natural_key,
    parse_annotation,
)
from .canvas.handles import MIN_SIZE
from .document import DocObject, new_uid
from .look_editor import LookEditor
from .photo_dialog import qimage_to_array

MAX_PHOTO_PIXELS = 50_000_000  # larger photos (e.g. decompression bombs) are refused before decoding


def read_photo(data: Optional[bytes] = None, path: Optional[str] = None) -> Tuple[QImage, str]:
    """Decode a photo from ``data`` (bytes) or the file ``path``, refusing images over
    ``MAX_PHOTO_PIXELS`` by their header before decoding. Returns (image, problem): a null image and
    a one-line reason when it cannot be used ("" when fine)."""
    if data is not None:
        buf = QBuffer()
        buf.setData(QByteArray(data))
        buf.open(QIODevice.OpenModeFlag.ReadOnly)
        reader = QImageReader(buf)
    else:
        reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and size.width() * size.height() > MAX_PHOTO_PIXELS:
        return QImage(), (f"it is too large ({size.width()}x{size.height()} pixels; the limit is "
                          f"{MAX_PHOTO_PIXELS // 1_000_000} megapixels)")
    image = reader.read()
    if image.isNull():
        return QImage(), f"it cannot be decoded ({reader.errorString()[:120]})"
    return image, ""


IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.webp *.gif *.tif *.tiff);;All files (*)"
ANNOTATION_FILTER = "COCO or labelme annotations (*.json);;All files (*)"


class PhotoTools(QObject):
    """The two photo commands of the window. ``files``: the FileController (maybe_save, new document)."""

    message = Signal(str)

    def __init__(self, looks: LookEditor, dialogs, settings, files, parent=None):
        super().__init__(parent)
        self.looks, self.dialogs, self.settings, self.files = looks, dialogs, settings, files
        self.editor = looks.editor
        self.client = looks.client

    # ---- look from a photo ---------------------------------------------------------------------
    def look_from_photo(self) -> bool:
        """Look > From Photo…: open an image, pick a box, encode it into the selected object's z."""
        o = self.looks.current()
        why = self._cannot_take_look(o)
        if o is None or why:
            self.message.emit(why)
            return False
        path = self.dialogs.open_file("Take a look from a photo", IMAGE_FILTER, self.settings.last_dir("photo"))
        if not path:
            return False
        image, problem = read_photo(path=path)
        if image.isNull():
            self.dialogs.error("Look from a photo", f"Cannot use the image {path}: {problem}.")
            return False
        self.settings.set_last_dir("photo", path)
        box = self.dialogs.pick_box(image, f"Look for '{o.category}' from {Path(path).name}", o.bbox)
        if box is None:
            return False
        self.look_from_image(o.uid, qimage_to_array(image), box)
        return True

    def _cannot_take_look(self, o: Optional[DocObject]) -> str:
        if o is None:
            return "Select one object to give it a look from a photo"
        if getattr(self.client, "info", None) is None:
            return "Load a model first"
        if o.locked:
            return f"The look of '{o.category}' is locked (unlock it with L)"
        if self.editor.is_unknown(o.category):
            return f"'{o.category}' is unknown to this model"
        return ""

    def look_from_image(self, uid: int, image: np.ndarray, box: Sequence[float]) -> Optional[str]:
        """z of ``uid`` := the crop encoder's mu of ``box`` on ``image`` (uint8 [H, W, 3]); computed on
        the worker, applied as one undo step when it arrives. Returns the job tag."""
        o = self.editor.doc.get(uid)
        category, box = o.category, tuple(float(v) for v in box)
        image = np.ascontiguousarray(image, np.uint8)

        def done(z) -> None:
            if self.looks.apply_looks({uid: (tuple(float(v) for v in z), None, None)}, "Look from photo"):
                self.message.emit(f"'{category}' took its look from the photo")

        return self.client.run_job(lambda m: np.asarray(m.encode_appearance(image, box, category), np.float32),
                                   done, lambda msg: self.dialogs.error("Look from a photo", msg))

    # ---- import an annotation ------------------------------------------------------------------
    def import_annotation(self, paths=None) -> bool:
        """File > Import Annotation…: COCO or labelme JSON file(s) of a photo as a new layout. Several
        files about the same photos (COCO-Stuff's instances + stuff) come together: pick both."""
        info = getattr(self.client, "info", None)
        if info is None:
            self.message.emit("Load a model first")
            return False
        if isinstance(paths, (str, Path)):
            paths = [paths]
        paths = list(paths or self.dialogs.open_files("Import annotations of a photo (COCO instances and "
                                                      "stuff files together)", ANNOTATION_FILTER,
                                                      self.settings.last_dir("annotation")) or [])
        if not paths:
            return False
        try:
            photo = self._read_photo(paths)
        except AnnotationError as e:
            self.dialogs.error("Cannot import the annotation", str(e))
            return False
        if photo is None:
            return False
        names = ", ".join(Path(p).name for p in (photo.sources or (photo.source,)))
        if not photo.objects:
            what = photo.image_name or "the photo"
            self.dialogs.error("Cannot import the annotation", f"{names}: no boxes for {what}.")
            return False
        self.settings.set_last_dir("annotation", str(paths[0]))
        image, problem = self._photo_of(photo)
        if not self.files.maybe_save():
            return False
        cats, unknown = map_labels([label for label, _ in photo.objects], info.categories)
        boxes = [b for _, b in photo.objects]
        vocab = set(info.categories)
        known = [i for i, c in enumerate(cats) if c in vocab]
        notes = [f"Imported {len(cats)} object(s) of {photo.image_name or 'the photo'} from {names}"]
        if photo.dropped:
            notes.append(f"{photo.dropped} unlabeled ('other') region(s) left out")
        if unknown:
            notes.append(f"labels unknown to this model, kept and flagged: {', '.join(unknown)}")
        if image is None:
            notes.append(f"the photo {problem}: the objects got random looks")
            self._adopt(cats, boxes, {}, notes)
            return True

        def encode(m) -> List[np.ndarray]:
            return [np.asarray(m.encode_appearance(image, boxes[i], cats[i]), np.float32) for i in known]

        self.client.run_job(encode, lambda zs: self._adopt(cats, boxes, dict(zip(known, zs)), notes),
                            lambda msg: self.dialogs.error("Cannot import the annotation", msg))
        self.message.emit(f"Importing {names}: reading the looks from the photo…")
        return True

    def _read_photo(self, paths: Sequence) -> Optional[AnnotatedPhoto]:
        """The annotations of one photo from ``paths`` merged (asks which photo when they annotate
        several; None when the user cancels). Raises AnnotationError."""
        datas = [(Path(p), load_json(p)) for p in paths]
        images = {str(path): annotated_images(data) for path, data in datas}
        names = sorted({n for ns in images.values() for n in ns}, key=natural_key)
        if not names:
            raise AnnotationError(f"{', '.join(p.name for p, _ in datas)}: no annotated photo in it")
        name = names[0]
        if len(names) > 1:
            name = self.dialogs.choose("Import annotation", f"Photo ({len(names)} annotated):", names)
            if name is None:
                return None
        photos = [parse_annotation(data, path, name) for path, data in datas if name in images[str(path)]]
        return merge_photos(photos)

    def _photo_of(self, photo) -> Tuple[Optional[np.ndarray], str]:
        """(the annotated photo as uint8 [H, W, 3] or None, why not): embedded, beside the file or in
        the usual COCO folders, or asked for. An embedded or found photo that cannot be used (too large,
        undecodable) is reported as such, not as "not found"."""
        image, problems = QImage(), []
        if photo.image_data:
            image, problem = read_photo(data=photo.image_data)
            if problem:
                problems.append(f"embedded in the annotation: {problem}")
        if image.isNull() and photo.image_path is not None and photo.image_path.is_file():
            image, problem = read_photo(path=str(photo.image_path))
            if problem:
                problems.append(f"{photo.image_path.name}: {problem}")
        if image.isNull() and not problems:
            name = photo.image_name or "the photo"
            where = self.dialogs.open_file(f"Where is {name}?", IMAGE_FILTER, str(photo.source.parent))
            if where:
                image, problem = read_photo(path=where)
                if problem:
                    problems.append(f"{Path(where).name}: {problem}")
        if image.isNull():
            return None, ("cannot be used (" + "; ".join(problems) + ")") if problems else "was not found"
        return qimage_to_array(image), ""

    def _adopt(self, cats, boxes, zs, notes) -> None:
        objs = [DocObject(new_uid(), c, clamp_bbox(b, MIN_SIZE),
                          None if i not in zs else tuple(float(v) for v in zs[i]))
                for i, (c, b) in enumerate(zip(cats, boxes))]
        objs = [o.with_(z=o.z) for o in objs]  # float32 z
        self.files.replace_document(objs)
        self.message.emit("; ".join(notes))
