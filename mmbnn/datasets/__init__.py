from .checked import AnnotationError, CheckedCocoDataset, CheckedVOCDataset
from .synthetic import (appearance, generate, generate_coco, generate_imagenet,
                        generate_voc)

__all__ = ['AnnotationError', 'CheckedCocoDataset', 'CheckedVOCDataset',
           'appearance', 'generate', 'generate_coco', 'generate_imagenet',
           'generate_voc']
