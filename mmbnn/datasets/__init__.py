from .checked import AnnotationError, CheckedCocoDataset, CheckedVOCDataset
from .cifar import LocalCIFAR10
from .synthetic import (generate, generate_cifar10, generate_coco,
                        generate_imagenet, generate_voc)

__all__ = ['AnnotationError', 'CheckedCocoDataset', 'CheckedVOCDataset',
           'LocalCIFAR10', 'generate', 'generate_cifar10',
           'generate_coco', 'generate_imagenet', 'generate_voc']
