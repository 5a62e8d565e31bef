"""VOC and COCO datasets that reject bad input with errors naming it.

The stock classes read the same files; these add the checks a user needs
when pointing a config at a dataset: a missing ``data_root`` or annotation
file is named together with the config keys to change, and a malformed box
names its file and object instead of surfacing as a bare ``ValueError`` (or,
for an inverted box, being trained on silently).
"""
import math
import os.path as osp

from mmdet.datasets import CocoDataset, VOCDataset

from mmbnn.registry import DATASETS


class AnnotationError(ValueError):
    """An annotation file holds a box or field that cannot be used."""


class _PathChecks:
    """Checks run before the stock loader opens any file."""

    def _check_paths(self) -> None:
        kind = type(self).__name__
        if self.data_root and not osp.isdir(self.data_root):
            raise FileNotFoundError(
                f'{kind}: data_root {self.data_root!r} does not exist. Set '
                '`data_root` in the config (or --cfg-options) to your dataset, '
                'or write the generated one with `python tools/misc/'
                'generate_data.py`.')
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'{kind}: annotation file {self.ann_file!r} (data_root '
                f'{self.data_root!r} + ann_file) does not exist; check '
                '`ann_file` and `data_root` in the config.')

    def load_data_list(self):
        self._check_paths()
        return super().load_data_list()


def _number(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnnotationError(f'{what} is {value!r}, not a number') from None
    if not math.isfinite(number):
        raise AnnotationError(f'{what} is {value!r}, not a finite number')
    return number


@DATASETS.register_module()
class CheckedVOCDataset(_PathChecks, VOCDataset):
    """``VOCDataset`` that validates paths and every ``<bndbox>``.

    A box must have numeric ``xmin/ymin/xmax/ymax`` with ``xmax >= xmin`` and
    ``ymax >= ymin`` (VOC boxes are 1-based and inclusive, so equality is a
    one-pixel box). Objects whose class is not in ``metainfo['classes']`` are
    skipped, as in the stock class (that is how a class subset is trained).
    """

    def parse_data_info(self, img_info):
        try:
            return super().parse_data_info(img_info)
        except AnnotationError as err:
            raise AnnotationError(f"{img_info['xml_path']}: {err}") from None
        except Exception as err:  # e.g. a truncated file or a missing <size> field
            raise AnnotationError(
                f"{img_info['xml_path']}: cannot parse ({type(err).__name__}: "
                f'{err})') from err

    def _parse_instance_info(self, raw_ann_info, minus_one=True):
        for index, obj in enumerate(raw_ann_info.findall('object')):
            name = obj.findtext('name')
            if name not in self._metainfo['classes']:
                continue
            where = f'object {index} ({name!r})'
            box = obj.find('bndbox')
            if box is None:
                raise AnnotationError(f'{where} has no <bndbox>')
            xmin, ymin, xmax, ymax = (
                _number(box.findtext(k), f'{where} <{k}>')
                for k in ('xmin', 'ymin', 'xmax', 'ymax'))
            if xmax < xmin or ymax < ymin:
                raise AnnotationError(
                    f'{where} has an inverted box: xmin={xmin:g} xmax={xmax:g} '
                    f'ymin={ymin:g} ymax={ymax:g}')
        return super()._parse_instance_info(raw_ann_info, minus_one)


@DATASETS.register_module()
class CheckedCocoDataset(_PathChecks, CocoDataset):
    """``CocoDataset`` that validates paths and every annotation's ``bbox``.

    A ``bbox`` must be four finite numbers ``[x, y, w, h]`` with ``w, h >= 0``.
    Degenerate but well-formed boxes (tiny, or outside the image) are skipped
    as in the stock class, since real COCO contains a few.
    """

    def parse_data_info(self, raw_data_info):
        img_info = raw_data_info['raw_img_info']
        for ann in raw_data_info['raw_ann_info']:
            where = (f"{self.ann_file}: annotation id {ann.get('id')} (image id "
                     f"{img_info.get('id')})")
            bbox = ann.get('bbox')
            if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
                raise AnnotationError(
                    f'{where}: bbox must be [x, y, w, h], got {bbox!r}')
            x, y, w, h = (_number(v, f'{where}: bbox[{i}]')
                          for i, v in enumerate(bbox))
            if w < 0 or h < 0:
                raise AnnotationError(
                    f'{where}: bbox {bbox!r} has a negative width or height')
            for key in ('category_id', 'area'):
                if key not in ann:
                    raise AnnotationError(f'{where}: missing {key!r}')
        for key in ('file_name', 'width', 'height'):
            if key not in img_info:
                raise AnnotationError(
                    f"{self.ann_file}: image id {img_info.get('id')} is missing "
                    f'{key!r}')
        return super().parse_data_info(raw_data_info)
