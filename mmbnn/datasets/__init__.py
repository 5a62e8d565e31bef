from .checked import AnnotationError, CheckedCocoDataset, CheckedVOCDataset
from .cifar import LocalCIFAR10
from .synthetic import (appearance, generate, generate_cifar10, generate_coco,
                        generate_imagenet, generate_voc)

__all__ = ['AnnotationError', 'CheckedCocoDataset', 'CheckedVOCDataset',
           'LocalCIFAR10', 'appearance', 'generate', 'generate_cifar10',
           'generate_coco', 'generate_imagenet', 'generate_voc']
